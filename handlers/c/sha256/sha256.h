/*
 * Streaming SHA-256 (FIPS 180-4), written for this handler so that a request
 * body of any size is digested in a fixed 100-odd bytes of state: callers feed
 * it chunks as they arrive and never hold the whole message.
 */
#ifndef SWITCHYARD_SHA256_H
#define SWITCHYARD_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_BLOCK_SIZE 64
#define SHA256_DIGEST_SIZE 32

typedef struct {
    uint32_t state[8];                 /* H0..H7, the running hash value */
    uint64_t total_len;                /* message bytes seen so far */
    uint8_t block[SHA256_BLOCK_SIZE];  /* bytes of the block being filled */
    size_t block_len;                  /* always < SHA256_BLOCK_SIZE between calls */
} sha256_ctx;

void sha256_init(sha256_ctx *ctx);
void sha256_update(sha256_ctx *ctx, const uint8_t *data, size_t len);
/* Pads the message, writes the digest and leaves ctx spent (init to reuse). */
void sha256_final(sha256_ctx *ctx, uint8_t digest[SHA256_DIGEST_SIZE]);

#endif
