/* files: the job's declared files (read-only), a directory listing, files
 * the program creates, seeks, stat, and the errors a program meets. Paths
 * are relative to the working directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void list(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        printf("opendir %s: %s\n", dir, strerror(errno));
        return;
    }
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64)
        names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, n, sizeof names[0], cmp);
    printf("%s:", dir);
    for (int i = 0; i < n; i++) {
        printf(" %s", names[i]);
        free(names[i]);
    }
    printf("\n");
}

int main(void)
{
    /* A declared file, line by line. */
    FILE *f = fopen("data/words.txt", "r");
    if (!f) {
        printf("fopen data/words.txt: %s\n", strerror(errno));
        return 1;
    }
    char line[256];
    int lines = 0;
    size_t chars = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        chars += strlen(line);
    }
    fclose(f);
    printf("words.txt: %d lines, %zu bytes\n", lines, chars);

    struct stat st;
    if (stat("data/words.txt", &st) == 0)
        printf("stat: regular=%d size=%lld\n", S_ISREG(st.st_mode), (long long)st.st_size);
    if (stat("data", &st) == 0)
        printf("stat data: dir=%d\n", S_ISDIR(st.st_mode));

    /* Binary data with seeks. */
    int fd = open("data/numbers.bin", O_RDONLY);
    unsigned char buf[16];
    off_t end = lseek(fd, 0, SEEK_END);
    lseek(fd, 100, SEEK_SET);
    ssize_t got = read(fd, buf, sizeof buf);
    printf("numbers.bin: %lld bytes; at 100: %zd bytes, first %u last %u\n", (long long)end, got,
           buf[0], buf[15]);
    got = pread(fd, buf, 4, end - 2);
    printf("pread at end-2: %zd bytes\n", got);
    close(fd);

    list("data");

    /* Declared files are read-only; missing ones are missing. */
    errno = 0;
    f = fopen("data/words.txt", "a");
    printf("append to words.txt: %s\n", f ? "allowed?!" : strerror(errno));
    errno = 0;
    printf("open missing.txt: %s\n", open("missing.txt", O_RDONLY) < 0 ? strerror(errno) : "found?!");
    errno = 0;
    printf("open data/words.txt/x: %s\n", open("data/words.txt/x", O_RDONLY) < 0 ? strerror(errno) : "?!");

    /* Files the program makes. */
    if (mkdir("out", 0755) != 0)
        printf("mkdir out: %s\n", strerror(errno));
    f = fopen("out/report.txt", "w");
    for (int i = 0; i < 50; i++)
        fprintf(f, "line %d: %d squared is %d\n", i, i, i * i);
    fclose(f);
    f = fopen("out/report.txt", "r+");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 5, SEEK_SET);
    fputc('#', f);
    fclose(f);
    printf("report.txt: %ld bytes\n", size);
    fd = open("scratch.tmp", O_CREAT | O_EXCL | O_RDWR, 0600);
    write(fd, "temporary", 9);
    printf("scratch exists again with O_EXCL: %s\n",
           open("scratch.tmp", O_CREAT | O_EXCL | O_RDWR, 0600) < 0 ? strerror(errno) : "no?!");
    close(fd);
    printf("unlink scratch.tmp: %d\n", unlink("scratch.tmp"));
    printf("scratch after unlink: %s\n", access("scratch.tmp", F_OK) ? strerror(errno) : "there?!");
    fd = open("out/log.txt", O_WRONLY | O_CREAT | O_APPEND, 0644);
    dprintf(fd, "first\n");
    close(fd);
    fd = open("out/log.txt", O_WRONLY | O_APPEND);
    dprintf(fd, "second\n");
    close(fd);
    list("out");
    char cwd[256];
    printf("cwd: %s\n", getcwd(cwd, sizeof cwd) ? "ok" : strerror(errno));
    if (chdir("out") == 0) {
        printf("in out, log.txt readable: %s\n", access("log.txt", R_OK) == 0 ? "yes" : "no");
        chdir("..");
    }
    return 0;
}
