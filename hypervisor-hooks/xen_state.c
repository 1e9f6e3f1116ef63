/*
 * xen_state.c - the xen backend's state file text (see xen_state.h):
 * parsing is strict, because the next attach writes guest memory and
 * debug registers from it; a file we would not have written is not
 * acted on at all.
 */
#include "xen_state.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int state_line(const char *l, bool *legacy_ok, struct xen_state *st)
{
	unsigned long long a, b;
	unsigned int slot;
	char extra;

	if (!strcmp(l, "paused")) {
		st->paused = true;
		return 0;
	}
	if (sscanf(l, "int3 %llx %llx %c", &a, &b, &extra) == 2 ||
	    (*legacy_ok && sscanf(l, "%llx %llx %c", &a, &b, &extra) == 2)) {
		if (b > 0xff)
			return -EINVAL;
		if (st->n_int3 >= XEN_BPS_MAX)
			return -ENOSPC;
		st->int3[st->n_int3].gpa = a;
		st->int3[st->n_int3++].orig = (uint8_t)b;
		return 0;
	}
	if (sscanf(l, "dr %u %llx %c", &slot, &a, &extra) == 2) {
		if (slot >= XEN_DR_SLOTS)
			return -EINVAL;
		for (unsigned int i = 0; i < st->n_dr; i++)
			if (st->dr[i].slot == slot)
				return -EINVAL;
		st->dr[st->n_dr].slot = slot;
		st->dr[st->n_dr++].addr = a;
		return 0;
	}
	return -EINVAL;
}

int xen_state_parse(const char *text, size_t len, unsigned int domid,
		    struct xen_state *st)
{
	char line[96];
	bool first = true, legacy = true;
	size_t i = 0;

	memset(st, 0, sizeof(*st));
	if (len > XEN_STATE_MAX)
		return -EFBIG;
	while (i < len) {
		size_t n = 0;
		unsigned int id;
		char extra;
		int err;

		while (i < len && text[i] != '\n') {
			if (n + 1 >= sizeof(line) || text[i] == '\0')
				return -EINVAL;
			line[n++] = text[i++];
		}
		i++;	/* the newline (or past the end) */
		line[n] = '\0';
		if (n == 0)
			continue;
		if (first && sscanf(line, "upcalld-xen-state dom %u %c", &id, &extra) == 1) {
			if (id != domid)
				return -EXDEV;
			legacy = false;
		} else {
			err = state_line(line, &legacy, st);
			if (err)
				return err;
		}
		first = false;
	}
	return 0;
}

int xen_state_format(const struct xen_bps *bps, bool paused, unsigned int domid,
		     char *buf, size_t size)
{
	size_t off = 0;
	int n = snprintf(buf, size, "upcalld-xen-state dom %u\n%s", domid,
			 paused ? "paused\n" : "");

	if (n < 0 || (size_t)n >= size)
		return -ENOSPC;
	off = (size_t)n;
	for (unsigned int i = 0; i < bps->n; i++) {
		const struct xen_bp *b = &bps->e[i];

		if (b->slot >= 0)
			n = snprintf(buf + off, size - off, "dr %d %llx\n", b->slot,
				     (unsigned long long)b->addr);
		else
			n = snprintf(buf + off, size - off, "int3 %llx %02x\n",
				     (unsigned long long)b->gpa, b->orig);
		if (n < 0 || (size_t)n >= size - off)
			return -ENOSPC;
		off += (size_t)n;
	}
	return (int)off;
}
