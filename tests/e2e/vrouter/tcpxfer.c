/* tcpxfer: a minimal TCP transfer for the vRouter e2e test (no netcat
 * needed). 'tcpxfer listen PORT' accepts one connection, reads to EOF and
 * prints "bytes N hash H"; 'tcpxfer send ADDR PORT BYTES' sends BYTES of a
 * fixed pseudo-random pattern and prints the same line for what it sent.
 * Equal lines on both sides mean the stream arrived complete and intact.
 * The listener prints "listening" once it accepts connections. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv);

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h = (h ^ p[i]) * 0x100000001b3ull;
    }
    return h;
}

int main(int argc, char **argv)
{
    uint64_t h = 0xcbf29ce484222325ull, total = 0;
    uint8_t buf[65536];
    if (argc == 3 && !strcmp(argv[1], "listen")) {
        int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
        setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ls < 0 || bind(ls, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(ls, 1) != 0) {
            perror("tcpxfer: listen");
            return 1;
        }
        printf("listening\n");
        fflush(stdout);
        int s = accept(ls, NULL, NULL);
        if (s < 0) {
            perror("tcpxfer: accept");
            return 1;
        }
        ssize_t n;
        while ((n = read(s, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
            if (n > 0) {
                h = fnv(h, buf, (size_t)n);
                total += (uint64_t)n;
            }
        }
        close(s);
        close(ls);
    } else if (argc == 5 && !strcmp(argv[1], "send")) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
        if (s < 0 || inet_pton(AF_INET, argv[2], &sin.sin_addr) != 1 ||
            connect(s, (struct sockaddr *)&sin, sizeof sin) != 0) {
            perror("tcpxfer: connect");
            return 1;
        }
        uint64_t want = strtoull(argv[4], NULL, 0);
        uint32_t x = 12345;
        while (total < want) {
            size_t n = want - total < sizeof buf ? (size_t)(want - total) : sizeof buf;
            for (size_t i = 0; i < n; i++) {
                x = x * 1103515245u + 12345u;
                buf[i] = (uint8_t)(x >> 16);
            }
            size_t at = 0;
            while (at < n) {
                ssize_t w = write(s, buf + at, n - at);
                if (w < 0 && errno == EINTR) {
                    continue;
                }
                if (w <= 0) {
                    perror("tcpxfer: write");
                    return 1;
                }
                at += (size_t)w;
            }
            h = fnv(h, buf, n);
            total += n;
        }
        close(s);
    } else {
        fprintf(stderr, "usage: tcpxfer listen PORT | send ADDR PORT BYTES\n");
        return 2;
    }
    printf("bytes %llu hash %016llx\n", (unsigned long long)total, (unsigned long long)h);
    return 0;
}
