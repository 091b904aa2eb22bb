/* Native back-projection kernels of nanoroi (see backproject.c). */
#ifndef NANOROI_BACKPROJECT_H
#define NANOROI_BACKPROJECT_H

#include <stddef.h>

enum {
  NR_VARIANT_AUTO = 0,
  NR_VARIANT_SCALAR = 1,
  NR_VARIANT_AVX2 = 2,
  NR_VARIANT_AVX512 = 3,
  NR_VARIANT_AVX512_PAIRS = 4,
  NR_VARIANT_AVX512_WINDOW = 5,
  NR_VARIANT_AVX2_WINDOW = 6
};

typedef struct {
  const float *proj;   /* circular: [view][nu+2][nv+2] (v fastest); general: [view][nv+2][nu+2]; zero-padded */
  const double *mats;  /* 13 per view (see src/recon/kernels.ts) */
  float *out;          /* [z][y][x]; out += scale · back-projection */
  int nu, nv, view_start, view_end, fdk;
  int nz, ny, nx;
  int y_start, y_end, x_start, x_end; /* circular: block of voxel columns to update */
  int z_start, z_end;  /* general: slab of z slices to update */
  int tile_y, tile_x;  /* columns per tile (0: default) */
  int view_block;      /* views applied to one column before the next (0: default) */
  int variant;         /* NR_VARIANT_* */
  double sz, sy, sx, oz, oy, ox;
  float scale;
} bp_args;

int nr_best_variant(void);
int nr_variant_supported(int variant);
const char *nr_variant_name(int variant);
/* 0 on success, -1 out of memory, -2 variant not supported by this CPU. */
int nr_backproject_circular(const bp_args *a);
/* Any detector tilt, 'vu' layout [view][nv+2][nu+2]; slices [z_start, z_end) of out += scale·Σ. */
int nr_backproject_general(const bp_args *a);

#endif
