/* libargon2_reference.c: times the C reference implementation (libargon2) in-process at the
 * parameters the `hashing` criterion bench uses, so the two are compared without process
 * start-up or page-fault costs that a CLI loop would add. Not built by cargo; see
 * docs/performance.md for the command (needs Debian's libargon2-dev). */
#include <argon2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 50;
    if (runs < 1 || runs > 10000) runs = 50;
    const char *pwd = "correct horse battery staple";
    const char *salt = "sixteen byte salt";
    unsigned char out[32];
    double *t = malloc(sizeof(double) * runs), sum = 0;
    if (!t) return 1;
    for (int i = 0; i < 5; i++) /* warm-up, as criterion does */
        argon2id_hash_raw(2, 19456, 1, pwd, strlen(pwd), salt, strlen(salt), out, sizeof out);
    for (int i = 0; i < runs; i++) {
        double start = now_ms();
        int rc = argon2id_hash_raw(2, 19456, 1, pwd, strlen(pwd), salt, strlen(salt), out, sizeof out);
        t[i] = now_ms() - start;
        if (rc != ARGON2_OK) return 2;
        sum += t[i];
    }
    qsort(t, runs, sizeof(double), cmp);
    printf("libargon2 argon2id m=19456 t=2 p=1: mean %.2f ms, median %.2f ms, min %.2f ms (%d runs)\n",
           sum / runs, t[runs / 2], t[0], runs);
    free(t);
    return 0;
}
