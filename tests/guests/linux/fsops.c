/* fsops: file descriptor and directory calls one by one: dup, dup2, fcntl,
 * a file unlinked while open, rmdir, getdents types, a removed working
 * directory, ftruncate, O_APPEND, pread/pwrite, readv/writev, SEEK_DATA. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define SHOW(expr) do { errno = 0; long r_ = (long)(expr); \
    printf("%-44s = %ld%s%s\n", #expr, r_, r_ < 0 ? " " : "", r_ < 0 ? strerror(errno) : ""); } while (0)

static void types(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char out[512] = "";
    char *names[32];
    int n = 0;
    while ((e = readdir(d)) && n < 32) {
        char buf[300];
        snprintf(buf, sizeof buf, "%s:%s", e->d_name,
                 e->d_type == DT_DIR ? "dir" : e->d_type == DT_REG ? "file" : "other");
        names[n++] = strdup(buf);
    }
    closedir(d);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(names[i], names[j]) > 0) {
                char *t = names[i]; names[i] = names[j]; names[j] = t;
            }
    for (int i = 0; i < n; i++) {
        strcat(out, " ");
        strcat(out, names[i]);
        free(names[i]);
    }
    printf("%s:%s\n", dir, out);
}

int main(void)
{
    char buf[64];
    int top = open(".", O_RDONLY | O_DIRECTORY);
    SHOW(mkdir("w", 0755));
    SHOW(mkdir("w", 0755));
    SHOW(mkdir("w/sub", 0700));
    int fd = open("w/a.txt", O_CREAT | O_RDWR | O_TRUNC, 0644);
    SHOW(write(fd, "0123456789", 10));
    SHOW(dup(fd));
    SHOW(dup2(fd, 10));
    SHOW(lseek(10, 0, SEEK_CUR));
    SHOW(lseek(fd, 2, SEEK_SET));
    SHOW(lseek(10, 0, SEEK_CUR));
    SHOW(fcntl(fd, F_GETFD));
    SHOW(fcntl(fd, F_SETFD, FD_CLOEXEC));
    SHOW(fcntl(fd, F_GETFD));
    SHOW(fcntl(fd, F_GETFL) & O_ACCMODE);
    SHOW(fcntl(fd, F_DUPFD, 20));
    SHOW(fcntl(fd, 12345));
    SHOW(pwrite(fd, "AB", 2, 4));
    SHOW(pread(fd, buf, 6, 2));
    printf("pread got %.6s\n", buf);
    SHOW(pread(fd, buf, 6, -1));
    SHOW(lseek(fd, 0, SEEK_DATA));
    SHOW(lseek(fd, 0, SEEK_HOLE));
    SHOW(lseek(fd, 50, SEEK_DATA));
    SHOW(lseek(fd, -100, SEEK_END));
    SHOW(ftruncate(fd, 4));
    SHOW(ftruncate(fd, -1));
    struct stat st;
    SHOW(fstat(fd, &st) == 0 ? st.st_size : -1);
    SHOW(ftruncate(fd, 100000));
    SHOW(fstat(fd, &st) == 0 ? st.st_size : -1);
    SHOW(unlink("w/a.txt"));
    SHOW(access("w/a.txt", F_OK));
    SHOW(pread(fd, buf, 4, 0));
    printf("unlinked file still reads %.4s\n", buf);
    SHOW(close(fd));
    SHOW(close(fd));
    SHOW(close(10));
    SHOW(close(33));
    SHOW(close(20));

    fd = open("w/log", O_CREAT | O_WRONLY | O_APPEND, 0600);
    SHOW(write(fd, "one\n", 4));
    SHOW(lseek(fd, 0, SEEK_SET));
    SHOW(write(fd, "two\n", 4));
    struct iovec iov[3] = {{"th", 2}, {"", 0}, {"ree\n", 4}};
    SHOW(writev(fd, iov, 3));
    close(fd);
    fd = open("w/log", O_RDONLY);
    char x[5] = {0}, y[20] = {0};
    struct iovec in[2] = {{x, 4}, {y, 20}};
    SHOW(readv(fd, in, 2));
    printf("readv: [%s] [%s]\n", x, y);
    SHOW(write(fd, "no", 2));
    close(fd);
    SHOW(open("w/log", O_WRONLY | O_DIRECTORY));
    SHOW(open("w", O_WRONLY));
    SHOW(open("w/sub/../log", O_RDONLY) >= 0);
    SHOW(open("w/log/", O_RDONLY));
    SHOW(open("w/nothere/x", O_CREAT | O_WRONLY, 0600));
    types("w");
    SHOW(rmdir("w"));
    SHOW(rmdir("w/log"));
    SHOW(unlink("w/sub"));
    SHOW(rmdir("w/sub/."));
    SHOW(chdir("w/sub"));
    SHOW(rmdir("../sub"));
    char cwd[128];
    SHOW(getcwd(cwd, sizeof cwd) != NULL);
    SHOW(open("new", O_CREAT | O_WRONLY, 0600));
    SHOW(chdir(".."));
    SHOW(fchdir(top));
    SHOW(getcwd(cwd, 1) != NULL);
    int dfd = open("w", O_RDONLY | O_DIRECTORY);
    SHOW(openat(dfd, "log", O_RDONLY) >= 0);
    SHOW(mkdirat(dfd, "made", 0755));
    SHOW(fchdir(dfd));
    SHOW(access("made", F_OK));
    SHOW(faccessat(AT_FDCWD, "log", R_OK | W_OK, 0));
    SHOW(chmod("log", 0400));
    SHOW(faccessat(AT_FDCWD, "log", W_OK, 0));
    SHOW(open("log", O_WRONLY));
    SHOW(fchmod(open("log", O_RDONLY), 0600));
    SHOW(faccessat(AT_FDCWD, "log", W_OK, 0));
    SHOW(chmod("nothere", 0600));
    types(".");
    return 0;
}
