/*
 * upper: copies stdin to stdout with ASCII letters uppercased.  Reads in
 * deliberately small 7-byte chunks so that multi-read input, partial reads
 * and read() returning 0 at EOF all get exercised.  Exits 0 (1 on a read or
 * write error).
 */
#include "rt.h"

int main(void)
{
    char buf[7];
    for (;;) {
        ssize_t n = sys_read(0, buf, sizeof buf);
        if (n == 0)
            break;
        if (n < 0)
            return 1;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] >= 'a' && buf[i] <= 'z')
                buf[i] = (char)(buf[i] - 'a' + 'A');
        if (write_all(1, buf, (size_t)n) != 0)
            return 1;
    }
    sys_exit_group(0);              /* exit_group rather than exit, on purpose */
}
