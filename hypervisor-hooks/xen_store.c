/*
 * xen_store.c - xenstore work of the xen backend: a guest's domain id
 * from its name (/local/domain/<id>/name, written by the toolstack), and
 * the guest's upcall key (/local/domain/<id>/upcalld/key).
 * Guests can write only some subtrees of their own /local/domain/<id>
 * (data, device ...), not "name" or "upcalld", which dom0 owns; the id
 * comes from the path, never from a value.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include <xenstore.h>

#include "wire.h"
#include "xen.h"

#define KEY_BYTES_MAX 64u
#define XS_TRIES 8			/* transactions retried on EAGAIN */

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

static void hex_encode(const uint8_t *p, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
}

/* One try: the domain must exist (its "domid" node), then dir and key. */
static int put_key_once(struct xs_handle *xs, unsigned int domid,
			const char *hex)
{
	/* owner dom0, nobody else; then read for the guest alone */
	struct xs_permissions perms[2] = {
		{ .id = 0, .perms = XS_PERM_NONE },
		{ .id = domid, .perms = XS_PERM_READ },
	};
	char dom[64], dir[64], node[80];
	xs_transaction_t t = xs_transaction_start(xs);
	unsigned int len = 0;
	char *v;

	if (t == XBT_NULL)
		return errno ? -errno : -EIO;
	snprintf(dom, sizeof(dom), "/local/domain/%u/domid", domid);
	snprintf(dir, sizeof(dir), "/local/domain/%u/" WIRE_XEN_KEY_DIR, domid);
	snprintf(node, sizeof(node), "/local/domain/%u/" WIRE_XEN_KEY_NODE, domid);
	v = xs_read(xs, t, dom, &len);
	if (!v) {
		xs_transaction_end(xs, t, true);
		return -ENOENT;
	}
	free(v);
	if (!xs_mkdir(xs, t, dir) || !xs_set_permissions(xs, t, dir, perms, 2) ||
	    !xs_write(xs, t, node, hex, (unsigned int)strlen(hex)) ||
	    !xs_set_permissions(xs, t, node, perms, 2)) {
		int err = errno ? errno : EIO;

		xs_transaction_end(xs, t, true);
		return -err;
	}
	if (!xs_transaction_end(xs, t, false))
		return -(errno ? errno : EIO);
	return 0;
}

int xen_store_put_key(unsigned int domid, const uint8_t *key, size_t len)
{
	char hex[2 * KEY_BYTES_MAX + 1];
	struct xs_handle *xs;
	int ret = -EAGAIN;

	if (!key || len == 0 || len > KEY_BYTES_MAX || domid == 0)
		return -EINVAL;
	xs = xs_open(0);
	if (!xs)
		return -ENODEV;
	hex_encode(key, len, hex);
	for (int i = 0; i < XS_TRIES && ret == -EAGAIN; i++)
		ret = put_key_once(xs, domid, hex);
	explicit_bzero(hex, sizeof(hex));
	xs_close(xs);
	return ret;
}

int xen_store_del_key(unsigned int domid)
{
	struct xs_handle *xs;
	char dir[64];
	int ret = 0;

	if (domid == 0)
		return -EINVAL;
	xs = xs_open(0);
	if (!xs)
		return -ENODEV;
	snprintf(dir, sizeof(dir), "/local/domain/%u/" WIRE_XEN_KEY_DIR, domid);
	if (!xs_rm(xs, XBT_NULL, dir) && errno != ENOENT)
		ret = -errno;
	xs_close(xs);
	return ret;
}
