/*
 * xen_store.c - xenstore look-ups of the xen backend: a guest's domain id
 * from its name (/local/domain/<id>/name, written by the toolstack).
 * Guests can write under their own /local/domain/<id> but not "name",
 * which the toolstack owns; the id comes from the path, never from a value.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include <xenstore.h>

#include "xen.h"

static bool parse_domid(const char *s, unsigned int *out)
{
	char *end;
	unsigned long v;

	if (!s[0] || s[0] == '-' || s[0] == '+')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v >= 0x7ff0)	/* DOMID_FIRST_RESERVED */
		return false;
	*out = (unsigned int)v;
	return true;
}

int xen_domid_by_name(const char *name, unsigned int *domid)
{
	struct xs_handle *xs = xs_open(XS_OPEN_READONLY);
	unsigned int n = 0, id;
	char **ids;
	int err = -ENOENT;

	if (!xs)
		return -ENODEV;
	ids = xs_directory(xs, XBT_NULL, "/local/domain", &n);
	for (unsigned int i = 0; ids && i < n && i < XEN_NAME_LOOKUP_MAX; i++) {
		char path[64];
		unsigned int len = 0;
		char *v;

		if (!parse_domid(ids[i], &id) || id == 0)
			continue;
		snprintf(path, sizeof(path), "/local/domain/%u/name", id);
		v = xs_read(xs, XBT_NULL, path, &len);
		if (v && strlen(v) == len && !strcmp(v, name)) {
			*domid = id;
			err = 0;
		}
		free(v);
		if (!err)
			break;
	}
	free(ids);
	xs_close(xs);
	return err;
}
