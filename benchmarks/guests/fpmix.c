/* fpmix: floating point as ordinary C code uses it, for the speed comparison
 * with libriscv (benchmarks/bench_libriscv.py), beside n-body.
 *   - spectral norm: int-to-double conversions, division, sums;
 *   - Mandelbrot: multiply-adds and compares in a short loop;
 *   - libm: exp, log, sin and pow, and double-to-integer casts;
 *   - single precision: float arithmetic, sqrtf, fminf, int-to-float.
 * The argument scales the work; the output is the same under every exact
 * RISC-V implementation. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static double a(int i, int j)
{
    return 1.0 / ((i + j) * (i + j + 1) / 2 + i + 1);
}

static void mul_av(int n, const double *v, double *out, int transpose)
{
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < n; j++)
            s += (transpose ? a(j, i) : a(i, j)) * v[j];
        out[i] = s;
    }
}

static double spectral_norm(int n)
{
    double *u = malloc(n * sizeof *u), *v = malloc(n * sizeof *v), *t = malloc(n * sizeof *t);
    if (!u || !v || !t)
        exit(1);
    for (int i = 0; i < n; i++)
        u[i] = 1;
    for (int k = 0; k < 10; k++) {
        mul_av(n, u, t, 0);
        mul_av(n, t, v, 1);
        mul_av(n, v, t, 0);
        mul_av(n, t, u, 1);
    }
    double vbv = 0, vv = 0;
    for (int i = 0; i < n; i++) {
        vbv += u[i] * v[i];
        vv += v[i] * v[i];
    }
    free(u);
    free(v);
    free(t);
    return sqrt(vbv / vv);
}

static long mandelbrot(int w)
{
    long inside = 0;
    for (int y = 0; y < w; y++)
        for (int x = 0; x < w; x++) {
            double cr = 2.0 * x / w - 1.5, ci = 2.0 * y / w - 1.0, zr = 0, zi = 0;
            int i;
            for (i = 0; i < 50 && zr * zr + zi * zi <= 4.0; i++) {
                double t = zr * zr - zi * zi + cr;
                zi = 2 * zr * zi + ci;
                zr = t;
            }
            inside += i == 50;
        }
    return inside;
}

static double libm(int n)
{
    double s = 0;
    for (int i = 1; i <= n; i++) {
        double x = i * 0.001;
        s += exp(-x) * sin(x) + log(x) + pow(x, 0.3) + (long)(x * 1000.5) % 7;
    }
    return s;
}

static float singles(int n)
{
    float a = 0.5f, s = 0;
    for (int i = 0; i < n; i++) {
        a = a * 1.0001f + 0.25f / (1.0f + a);
        s += sqrtf(a) - (float)(i & 15);
        if (a > 100.f)
            a = fminf(a * 0.01f, 3.0f);
    }
    return s;
}

int main(int argc, char **argv)
{
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    if (scale < 1)
        scale = 1;
    printf("spectral norm %.9f\n", spectral_norm(100 * scale));
    printf("mandelbrot %ld\n", mandelbrot(200 * scale));
    printf("libm %.6f\n", libm(100000 * scale));
    printf("singles %.3f\n", singles(1000000 * scale));
    return 0;
}
