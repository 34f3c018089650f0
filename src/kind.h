/* SPDX-License-Identifier: MIT */
/* kind.h - private: a set's registry of content kinds (src/kind.c), embedded in the set. */
#ifndef IOBUF_SRC_KIND_H
#define IOBUF_SRC_KIND_H

#include <pthread.h>
#include <stdint.h>

#include <iobuf/kind.h>

struct iobuf__kinds {
	pthread_mutex_t lock;   /* registrations only */
	uint32_t count;         /* names published (release) below it; readers acquire it */
	char name[IOBUF_KINDS_MAX][IOBUF_KIND_NAME_MAX];
};

/* Set up and tear down the registry of a set (with "raw" as kind 0). */
int iobuf__kinds_init(struct iobuf__kinds *k);
void iobuf__kinds_fini(struct iobuf__kinds *k);

/* The registry of @set (src/tiers.c). */
struct iobuf__kinds *iobuf__set_kinds(const struct iobuf_set *set);

#endif /* IOBUF_SRC_KIND_H */
