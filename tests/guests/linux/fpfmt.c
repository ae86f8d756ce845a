/* fpfmt: floating point through printf and strtod, libm, float and double,
 * and the rounding modes of fenv. */
#include <fenv.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
    const double d[] = {0.0, -0.0, 1.0, -1.5, 3.141592653589793, 1e-300, 6.02214076e23,
                        DBL_MAX, DBL_MIN, 5e-324, 0.1, 2.0 / 3.0, 123456789.125};
    for (unsigned i = 0; i < sizeof d / sizeof d[0]; i++)
        printf("%%g %-14g %%e %-24.15e %%a %-24a %%.3f %.3f\n", d[i], d[i], d[i], d[i]);
    printf("inf %f, -inf %e, nan %g\n", INFINITY, -INFINITY, NAN);
    const float f[] = {1.0f / 3.0f, 16777217.0f, -2.5e-38f, 3.4e38f};
    for (unsigned i = 0; i < sizeof f / sizeof f[0]; i++)
        printf("float %.9g %a\n", f[i], f[i]);
    const char *txt[] = {"0.1", "1e308", "1e309", "-2.5e-320", "0x1.8p3", "3.14159265358979323846"};
    for (unsigned i = 0; i < sizeof txt / sizeof txt[0]; i++)
        printf("strtod(%s) = %.17g\n", txt[i], strtod(txt[i], NULL));
    printf("sqrt(2) %.17g\n", sqrt(2.0));
    printf("sin(1) %.17g cos(1) %.17g\n", sin(1.0), cos(1.0));
    printf("exp(1) %.17g log(10) %.17g\n", exp(1.0), log(10.0));
    printf("pow(2, 0.5) %.17g atan2(1, 2) %.17g\n", pow(2.0, 0.5), atan2(1.0, 2.0));
    printf("fma(0.1, 10, -1) %.17g\n", fma(0.1, 10.0, -1.0));
    printf("sqrtf(2) %.9g expf(1) %.9g\n", sqrtf(2.0f), expf(1.0f));
    const int modes[] = {FE_TONEAREST, FE_TOWARDZERO, FE_UPWARD, FE_DOWNWARD};
    const char *names[] = {"nearest", "zero", "up", "down"};
    volatile double one = 1.0, three = 3.0;
    for (int i = 0; i < 4; i++) {
        fesetround(modes[i]);
        volatile double q = one / three;
        printf("1/3 rounded %-7s %.17g rint(2.5) %g\n", names[i], q, rint(2.5));
    }
    fesetround(FE_TONEAREST);
    feclearexcept(FE_ALL_EXCEPT);
    volatile double z = 0.0;
    volatile double r = one / z;
    printf("1/0 = %g, divbyzero flag: %d\n", r, fetestexcept(FE_DIVBYZERO) != 0);
    double sum = 0;
    for (int i = 1; i <= 100000; i++)
        sum += 1.0 / ((double)i * i);
    printf("sum 1/i^2 = %.15f\n", sum);
    return 0;
}
