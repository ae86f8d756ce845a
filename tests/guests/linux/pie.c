/* pie: a static-PIE program (ET_DYN without PT_INTERP) that relocates
 * itself, as glibc's static-pie start-up does: Debian's riscv64 glibc has
 * no static-pie support (no rcrt1.o), so this one brings its own start,
 * with no libc. It checks what the loader told it (auxv) against where it
 * finds itself, uses pointers that only relocation makes right, and
 * protects its RELRO data. Prints relations only, which hold wherever the
 * program was loaded. */
#include <elf.h>
#include <stddef.h>
#include <stdint.h>

extern const Elf64_Ehdr __ehdr_start __attribute__((visibility("hidden")));
extern Elf64_Dyn _DYNAMIC[] __attribute__((visibility("hidden")));

static long sys(long n, long a, long b, long c)
{
    register long a0 __asm__("a0") = a, a1 __asm__("a1") = b, a2 __asm__("a2") = c;
    register long a7 __asm__("a7") = n;
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a1), "r"(a2), "r"(a7) : "memory");
    return a0;
}

static size_t len(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

static void say(const char *s)
{
    sys(64, 1, (long)s, (long)len(s));
}

/* Before relocation: nothing here may use an address the linker stored. */
__attribute__((used)) void relocate(uintptr_t base)
{
    const Elf64_Rela *rela = 0;
    size_t size = 0;
    for (Elf64_Dyn *d = _DYNAMIC; d->d_tag != DT_NULL; d++) {
        if (d->d_tag == DT_RELA)
            rela = (const Elf64_Rela *)(base + d->d_un.d_ptr);
        else if (d->d_tag == DT_RELASZ)
            size = d->d_un.d_val;
    }
    for (size_t i = 0; rela && i < size / sizeof *rela; i++)
        if (ELF64_R_TYPE(rela[i].r_info) == R_RISCV_RELATIVE)
            *(uintptr_t *)(base + rela[i].r_offset) = base + rela[i].r_addend;
}

static const char *const words[] = {"relocated ", "pointers ", "work\n"};
static void yes(void) { say("yes\n"); }
static void no(void) { say("no\n"); }
static void (*const answer[2])(void) = {no, yes};

static void check(const char *what, int ok)
{
    say(what);
    answer[ok != 0]();
}

void _start_c(uintptr_t *sp)
{
    uintptr_t base = (uintptr_t)&__ehdr_start;
    relocate(base);
    long argc = (long)sp[0];
    char **envp = (char **)(sp + argc + 2);
    while (*envp)
        envp++;
    Elf64_auxv_t *aux = (Elf64_auxv_t *)(envp + 1);
    uintptr_t phdr = 0, entry = 0, phnum = 0, at_base = 1, rnd = 0;
    for (; aux->a_type != AT_NULL; aux++) {
        switch (aux->a_type) {
        case AT_PHDR: phdr = aux->a_un.a_val; break;
        case AT_ENTRY: entry = aux->a_un.a_val; break;
        case AT_PHNUM: phnum = aux->a_un.a_val; break;
        case AT_BASE: at_base = aux->a_un.a_val; break;
        case AT_RANDOM: rnd = aux->a_un.a_val; break;
        }
    }
    extern char _start[] __attribute__((visibility("hidden")));
    for (int i = 0; i < 3; i++)
        say(words[i]);
    check("AT_ENTRY is _start: ", entry == (uintptr_t)_start);
    check("AT_PHDR is the loaded program headers: ", phdr == base + __ehdr_start.e_phoff);
    check("AT_PHNUM matches: ", phnum == __ehdr_start.e_phnum);
    check("AT_BASE is 0 (no interpreter): ", at_base == 0);
    check("AT_RANDOM given: ", rnd != 0);
    check("loaded page-aligned: ", (base & 4095) == 0);
    /* Protect RELRO the way glibc does, then read through it. */
    const Elf64_Phdr *ph = (const Elf64_Phdr *)phdr;
    long rc = -1;
    for (uintptr_t i = 0; i < phnum; i++) {
        if (ph[i].p_type == PT_GNU_RELRO) {
            uintptr_t start = (base + ph[i].p_vaddr) & ~(uintptr_t)4095;
            uintptr_t end = (base + ph[i].p_vaddr + ph[i].p_memsz) & ~(uintptr_t)4095;
            rc = start == end ? 0 : sys(226, (long)start, (long)(end - start), 1);
        }
    }
    check("mprotect(RELRO, PROT_READ) succeeds: ", rc == 0);
    sys(93, 7, 0, 0);
}

__asm__(".text\n.globl _start\n.type _start, @function\n_start:\n"
        ".option push\n.option norelax\n"
        "  mv a0, sp\n  andi sp, sp, -16\n  call _start_c\n"
        ".option pop\n");
