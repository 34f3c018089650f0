/* SPDX-License-Identifier: MIT */
/*
 * relay.h - the wire protocol of examples/relay_server.c and examples/relay_client.c.
 *
 * A client's first byte names its role: RELAY_ROLE_PUB or RELAY_ROLE_SUB.
 *
 * A publisher then sends frames: a 4-byte big-endian length L
 * (RELAY_PAYLOAD_MIN .. the relay's --max-message) and L bytes of payload.
 * The relay forwards each frame, header and payload, byte for byte to
 * every subscriber.  A length out of range, or anything a subscriber
 * sends after its role byte, closes that connection.
 *
 * To a subscriber the relay sends the frames, and notices: a 4-byte
 * big-endian word with RELAY_NOTICE set, whose low 31 bits say how many
 * messages the relay dropped for it at that point of the stream (it was
 * lapped).  The first thing a subscriber receives is a notice of 0: it is
 * subscribed from then on.
 *
 * The payload the clients send (the relay never looks inside):
 *   u32 publisher id, u64 sequence number (0, 1, ...), body, u64 checksum,
 * all big-endian; the body is relay_body(id, seq) and the
 * checksum a 64-bit FNV-1a of everything before it.  So a subscriber can
 * recompute every byte of every message it receives.
 */
#ifndef RELAY_H
#define RELAY_H

#include <stddef.h>
#include <stdint.h>

#define RELAY_ROLE_PUB 'P'
#define RELAY_ROLE_SUB 'S'
#define RELAY_HDR 4
#define RELAY_NOTICE UINT32_C(0x80000000)
#define RELAY_PAYLOAD_MIN 20 /* id, sequence, checksum */

static inline uint32_t relay_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void relay_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint64_t relay_get64(const uint8_t *p)
{
	return (uint64_t)relay_get32(p) << 32 | relay_get32(p + 4);
}

static inline void relay_put64(uint8_t *p, uint64_t v)
{
	relay_put32(p, (uint32_t)(v >> 32));
	relay_put32(p + 4, (uint32_t)v);
}

/* Bytes 8w .. 8w + 7 of the body of message @seq of publisher @id, the first in the low byte. */
static inline uint64_t relay_word(uint32_t id, uint64_t seq, size_t w)
{
	uint64_t x = ((uint64_t)id << 48 ^ seq * UINT64_C(0x9e3779b97f4a7c15)) + w * UINT64_C(0xbf58476d1ce4e5b9);

	x ^= x >> 31;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 29;
	return x;
}

/* Write the @n body bytes of message @seq of publisher @id to @out. */
static inline void relay_body(uint8_t *out, uint32_t id, uint64_t seq, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t x = relay_word(id, seq, i / 8);

		for (size_t j = 0; j < 8 && i + j < n; j++)
			out[i + j] = (uint8_t)(x >> (j * 8));
	}
}

/* The offset of the first of @n body bytes at @in that differs from what was sent, or @n. */
static inline size_t relay_body_check(const uint8_t *in, uint32_t id, uint64_t seq, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t x = relay_word(id, seq, i / 8);

		for (size_t j = 0; j < 8 && i + j < n; j++)
			if (in[i + j] != (uint8_t)(x >> (j * 8)))
				return i + j;
	}
	return n;
}

/* 64-bit FNV-1a of @n bytes, continuing from @h (start: RELAY_FNV_SEED). */
#define RELAY_FNV_SEED UINT64_C(0xcbf29ce484222325)
static inline uint64_t relay_fnv(uint64_t h, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

#endif /* RELAY_H */
