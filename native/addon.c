/*
 * N-API binding of the native kernels (plain node_api.h, no extra dependency). Context-aware
 * (NAPI_MODULE_INIT, no global state), so every worker_threads worker of the pool loads its own
 * instance and calls the kernel synchronously on its share of the volume. Arrays are taken by
 * pointer from their (Shared)ArrayBuffers: nothing is copied. Every size is checked here, so a
 * wrong call throws a RangeError instead of touching memory it does not own.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdio.h>

#include "backproject.h"

#define CHECK(call)                                                       \
  do {                                                                    \
    if ((call) != napi_ok) {                                              \
      napi_throw_error(env, NULL, "nanoroi native: N-API call failed");   \
      return NULL;                                                        \
    }                                                                     \
  } while (0)

static int typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_typedarray_type t;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &t, len, data, &ab, &off) != napi_ok) return 0;
  return t == want && (*data != NULL || *len == 0);
}

static const int KIND_CIRCULAR = 0, KIND_GENERAL = 1;

enum { I_NU, I_NV, I_V0, I_V1, I_FDK, I_NZ, I_NY, I_NX, I_Y0, I_Y1, I_X0, I_X1, I_TY, I_TX, I_VAR, I_VB, I_Z0, I_Z1, I_COUNT };
enum { D_SZ, D_SY, D_SX, D_OZ, D_OY, D_OX, D_SCALE, D_COUNT };

/* backprojectCircular / backprojectGeneral(proj: Float32Array, mats: Float64Array, out: Float32Array,
 *     ints: Int32Array(18), dbls: Float64Array(7)), indices I_* and D_* above. */
static napi_value backproject(napi_env env, napi_callback_info info) {
  void *kind = NULL;
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, &kind));
  void *proj, *mats, *out, *ints, *dbls;
  size_t nproj, nmats, nout, nints, ndbls;
  if (argc < 5 || !typed(env, argv[0], napi_float32_array, &proj, &nproj) ||
      !typed(env, argv[1], napi_float64_array, &mats, &nmats) || !typed(env, argv[2], napi_float32_array, &out, &nout) ||
      !typed(env, argv[3], napi_int32_array, &ints, &nints) || !typed(env, argv[4], napi_float64_array, &dbls, &ndbls) ||
      nints < I_COUNT || ndbls < D_COUNT) {
    napi_throw_type_error(env, NULL, "backproject(proj: Float32Array, mats: Float64Array, out: Float32Array, ints: Int32Array(18), dbls: Float64Array(7))");
    return NULL;
  }
  const int *I = (const int *)ints;
  const double *D = (const double *)dbls;
  bp_args a;
  a.proj = (const float *)proj;
  a.mats = (const double *)mats;
  a.out = (float *)out;
  a.nu = I[I_NU]; a.nv = I[I_NV]; a.view_start = I[I_V0]; a.view_end = I[I_V1]; a.fdk = I[I_FDK];
  a.nz = I[I_NZ]; a.ny = I[I_NY]; a.nx = I[I_NX];
  a.y_start = I[I_Y0]; a.y_end = I[I_Y1]; a.x_start = I[I_X0]; a.x_end = I[I_X1];
  a.tile_y = I[I_TY]; a.tile_x = I[I_TX]; a.variant = I[I_VAR];
  a.view_block = I[I_VB];
  a.z_start = I[I_Z0];
  a.z_end = I[I_Z1];
  a.sz = D[D_SZ]; a.sy = D[D_SY]; a.sx = D[D_SX]; a.oz = D[D_OZ]; a.oy = D[D_OY]; a.ox = D[D_OX];
  a.scale = (float)D[D_SCALE];
  const int ok_dims = a.nu >= 1 && a.nv >= 1 && a.nz >= 1 && a.ny >= 1 && a.nx >= 1 && a.tile_y >= 0 && a.tile_x >= 0 &&
                      a.tile_y <= 4096 && a.tile_x <= 4096 && a.view_block >= 0;
  const int ok_ranges = a.view_start >= 0 && a.view_start <= a.view_end && a.y_start >= 0 && a.y_start <= a.y_end &&
                        a.y_end <= a.ny && a.x_start >= 0 && a.x_start <= a.x_end && a.x_end <= a.nx &&
                        a.z_start >= 0 && a.z_start <= a.z_end && a.z_end <= a.nz;
  if (!ok_dims || !ok_ranges ||
      (double)a.view_end * (a.nu + 2.0) * (a.nv + 2.0) > (double)nproj || (double)a.view_end * 13.0 > (double)nmats ||
      (double)a.nz * a.ny * a.nx > (double)nout) {
    napi_throw_range_error(env, NULL, "nanoroi native: back-projection arguments do not match the array sizes");
    return NULL;
  }
  const int rc = kind == (void *)&KIND_GENERAL ? nr_backproject_general(&a) : nr_backproject_circular(&a);
  if (rc == -1) {
    napi_throw_error(env, NULL, "nanoroi native: out of memory");
    return NULL;
  }
  if (rc == -2) {
    char msg[96];
    snprintf(msg, sizeof msg, "nanoroi native: this CPU does not support kernel variant %d", a.variant);
    napi_throw_range_error(env, NULL, msg);
    return NULL;
  }
  return NULL;
}

static napi_value variant_supported(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t v = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_int32(env, argv[0], &v) != napi_ok) v = -1;
  napi_value r;
  CHECK(napi_get_boolean(env, v > 0 && nr_variant_supported(v), &r));
  return r;
}

static napi_value variant_name(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t v = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_int32(env, argv[0], &v) != napi_ok) v = -1;
  if (v == NR_VARIANT_AUTO) v = nr_best_variant();
  napi_value r;
  CHECK(napi_create_string_utf8(env, nr_variant_name(v), NAPI_AUTO_LENGTH, &r));
  return r;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"backprojectCircular", NULL, backproject, NULL, NULL, NULL, napi_enumerable, (void *)&KIND_CIRCULAR},
      {"backprojectGeneral", NULL, backproject, NULL, NULL, NULL, napi_enumerable, (void *)&KIND_GENERAL},
      {"variantSupported", NULL, variant_supported, NULL, NULL, NULL, napi_enumerable, NULL},
      {"variantName", NULL, variant_name, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  napi_value abi;
  if (napi_create_int32(env, 2, &abi) == napi_ok) napi_set_named_property(env, exports, "abi", abi);
  return exports;
}
