/* timing: the clocks move forward, sleeping moves them by at least what
 * was asked, and the calls agree with each other. Prints only facts that
 * hold on any machine (the readings themselves differ run to run under
 * qemu, and are fixed by the cycle count under rvdist). */
#include <stdio.h>
#include <sys/time.h>
#include <sys/times.h>
#include <time.h>
#include <unistd.h>

static long long ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(void)
{
    long long m0 = ns(CLOCK_MONOTONIC), c0 = ns(CLOCK_PROCESS_CPUTIME_ID);
    volatile unsigned long x = 0;
    for (int i = 0; i < 2000000; i++)
        x += (unsigned long)i * i;
    long long m1 = ns(CLOCK_MONOTONIC), c1 = ns(CLOCK_PROCESS_CPUTIME_ID);
    printf("monotonic moved: %s\n", m1 > m0 ? "yes" : "no");
    printf("cpu time moved: %s\n", c1 > c0 ? "yes" : "no");

    struct timespec req = {0, 250000000}, res;
    long long before = ns(CLOCK_MONOTONIC);
    nanosleep(&req, NULL);
    long long slept = ns(CLOCK_MONOTONIC) - before;
    printf("nanosleep 0.25 s: at least that passed: %s\n", slept >= 250000000 ? "yes" : "no");
    before = ns(CLOCK_MONOTONIC);
    usleep(100000);
    printf("usleep 0.1 s: %s\n", ns(CLOCK_MONOTONIC) - before >= 100000000 ? "yes" : "no");
    before = ns(CLOCK_REALTIME);
    sleep(1);
    printf("sleep 1 s moved realtime: %s\n", ns(CLOCK_REALTIME) - before >= 1000000000 ? "yes" : "no");

    struct timeval tv;
    gettimeofday(&tv, NULL);
    time_t t = time(NULL);
    printf("time and gettimeofday agree: %s\n", t - tv.tv_sec <= 1 && t >= tv.tv_sec ? "yes" : "no");
    printf("after 2020: %s\n", t > 1577836800 ? "yes" : "no");
    printf("clock_getres monotonic: %s\n", clock_getres(CLOCK_MONOTONIC, &res) == 0 ? "ok" : "failed");
    printf("clock_gettime(bad clock): %d\n", clock_gettime((clockid_t)99, &res));
    struct tms tm;
    printf("times: %s\n", times(&tm) != (clock_t)-1 ? "ok" : "failed");
    printf("clock(): %s\n", clock() >= 0 ? "ok" : "failed");
    return (int)(x & 0);
}
