/* probe: opens each path it is given and says what happened. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        errno = 0;
        int fd = open(argv[i], O_RDONLY);
        char buf[64];
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
        printf("%s: %s", argv[i], fd >= 0 ? "opened" : strerror(errno));
        if (n >= 0)
            printf(", %zd bytes: %.*s", n, (int)(n > 20 ? 20 : n), buf);
        printf("\n");
        if (fd >= 0)
            close(fd);
    }
    return 0;
}
