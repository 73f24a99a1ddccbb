// skinning: vertices transformed by a weighted blend of bone matrices, once per frame.
#include "bench.h"
#include <math.h>

enum { BONES = 32, VERTS = 4000, INFLUENCES = 4 };
struct mat { float m[12]; };
struct vert { float pos[3]; int bone[INFLUENCES]; float weight[INFLUENCES]; };
static struct mat bones[BONES];
static struct vert verts[VERTS];
static float out[VERTS][3];

int main(int argc, char **argv) {
    int size = bench_size(argc, argv);
    if (size == 0) return 0;
    for (int v = 0; v < VERTS; v++) {
        for (int k = 0; k < 3; k++) verts[v].pos[k] = (float)(bench_rand() % 100) / 10.0f;
        for (int k = 0; k < INFLUENCES; k++) { verts[v].bone[k] = bench_rand() % BONES; verts[v].weight[k] = 0.25f; }
    }
    double sum = 0;
    for (int frame = 0; frame < size * 20; frame++) {
        pause();  // a game's main loop: once per frame
        for (int b = 0; b < BONES; b++) {
            float a = (float)(frame + b) * 0.01f, c = cosf(a), s = sinf(a);
            float m[12] = {c, -s, 0, (float)b, s, c, 0, 0, 0, 0, 1, (float)frame * 0.001f};
            for (int k = 0; k < 12; k++) bones[b].m[k] = m[k];
        }
        for (int v = 0; v < VERTS; v++) {
            float r[3] = {0, 0, 0};
            for (int k = 0; k < INFLUENCES; k++) {
                const float *m = bones[verts[v].bone[k]].m, *p = verts[v].pos, w = verts[v].weight[k];
                for (int row = 0; row < 3; row++)
                    r[row] += w * (m[row * 4] * p[0] + m[row * 4 + 1] * p[1] + m[row * 4 + 2] * p[2] + m[row * 4 + 3]);
            }
            for (int row = 0; row < 3; row++) out[v][row] = r[row];
        }
        sum += out[frame % VERTS][0] + out[(frame * 7) % VERTS][2];
    }
    bench_checksum((uint64_t)llround(fabs(sum) * 100));
    return 0;
}
