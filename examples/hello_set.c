/* SPDX-License-Identifier: MIT */
#include <iobuf.h>
#include <stdio.h>

int main(void)
{
	int err = 0;
	struct iobuf_set *set = iobuf_set_create(NULL, &err); /* the eight default tiers */
	iobuf_handle_t h;

	if (!set || (err = iobuf_get(set, 1500, &h)) < 0) { /* 1500 B: a 4 KiB MEDIUM buffer */
		fprintf(stderr, "iobuf: %s\n", iobuf_strerror(err));
		iobuf_set_destroy(set);
		return 1;
	}
	char *p = (char *)iobuf_buf(set, h); /* readv(2) into it, writev(2) from it */
	int n = snprintf(p, iobuf_handle_capacity(h), "hello from a %s buffer\n", iobuf_tier_name(iobuf_handle_tag(h)));
	fwrite(p, 1, (size_t)n, stdout);
	err = iobuf_put(set, h);                                    /* the index goes back to its tier */
	printf("put: %d, put again: %s\n", err, iobuf_strerror(iobuf_put(set, h))); /* a double put is refused */
	iobuf_set_stats_print(set, stdout);                         /* in_use 0 on every tier */
	iobuf_set_destroy(set);
	return err < 0;
}
