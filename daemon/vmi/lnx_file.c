/*
 * lnx_file.c - a task's open files, read from guest memory
 * (task->files->fdt->fd[]) and named the way `readlink /proc/PID/fd/N`
 * names them in the guest: "socket:[ino]", "pipe:[ino]",
 * "anon_inode:[name]", or a path rebuilt the way the kernel's d_path()
 * does, up the dentry chain and across mounts to the global root.
 *
 * Everything here is hostile input: the fd count is capped (LNX_FDS_MAX),
 * the path walk is bounded in depth, mount crossings and length, and a
 * chain that hits the depth bound is checked for a repeated node so a
 * cycle is reported as one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lnx.h"

/* Superblock magics of the filesystems whose files d_path() names by kind. */
#define SOCKFS_MAGIC 0x534F434Bu
#define PIPEFS_MAGIC 0x50495045u
#define ANON_INODE_FS_MAGIC 0x09041934u
/* ... and those whose pseudo files the kernel names with simple_dname(). */
#define TMPFS_MAGIC 0x01021994u
#define HUGETLBFS_MAGIC 0x958458f6u
#define SECRETMEM_MAGIC 0x5345434du

#define FD_CHUNK (HV_PAGE_SIZE / sizeof(gva_t))

/*
 * Dentry steps and mount crossings for all paths of one call: LNX_FDS_MAX
 * files each LNX_PATH_DEPTH deep would be 16M steps, seconds of reads a
 * hostile guest could make us spend. Past this, files are still listed
 * (fd, kind, inode) but their paths are left empty and truncated.
 */
#define FILE_WALK_STEPS (1u << 20)

/* Scratch for one lnx_files() call; heap-allocated, it is several KiB. */
struct fwalk {
	struct vmi *v;
	const struct profile *p;
	struct lnx_file_list *out;
	char buf[LNX_PATH_MAX];		/* path grows from the end */
	size_t pos;			/* start of the path in buf */
	gva_t trail[LNX_PATH_DEPTH];	/* dentries walked, for cycle checks */
	gva_t mtrail[LNX_PATH_DEPTH];	/* mounts crossed, likewise */
	gva_t fds[FD_CHUNK];
	size_t steps_left;		/* FILE_WALK_STEPS budget */
};

static const enum profile_field file_fields[] = {
	PF_TASK_FILES, PF_FILES_FDT, PF_FDTABLE_MAX_FDS, PF_FDTABLE_FD,
	PF_FILE_PATH, PF_FILE_INODE, PF_PATH_MNT, PF_PATH_DENTRY,
	PF_DENTRY_PARENT, PF_DENTRY_NAME, PF_QSTR_LEN, PF_QSTR_NAME,
	PF_INODE_MODE, PF_INODE_INO, PF_INODE_SB, PF_SB_MAGIC,
	PF_VFSMOUNT_ROOT, PF_MOUNT_PARENT, PF_MOUNT_MOUNTPOINT, PF_MOUNT_MNT,
};

static gva_t off(const struct fwalk *w, enum profile_field f)
{
	return (gva_t)(int64_t)profile_off(w->p, f);
}

/* A kernel object pointer: upper half, pointer-aligned. */
static bool file_kptr_ok(gva_t p)
{
	return (p >> 63) && !(p & 7);
}

/* Read a pointer that must be a kernel object pointer. */
static int read_kptr(struct fwalk *w, gva_t va, gva_t *val)
{
	if (vmi_read_ptr(w->v, va, val))
		return -EFAULT;
	return file_kptr_ok(*val) ? 0 : -EFAULT;
}

/* True when some node appears twice in trail[0..n). */
static bool trail_has_cycle(const gva_t *trail, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++)
			if (trail[i] == trail[j])
				return true;
	return false;
}

static bool prepend(struct fwalk *w, const char *s, size_t len)
{
	if (len > w->pos)
		return false;
	w->pos -= len;
	memcpy(w->buf + w->pos, s, len);
	return true;
}

/*
 * The dentry's name (d_name) into name[0..cap), stopping at a NUL as the
 * kernel's prepend_name() does. Returns its length, -EFAULT, or -E2BIG when
 * longer than cap.
 */
static long dentry_name(struct fwalk *w, gva_t d, char *name, size_t cap)
{
	gva_t q = d + off(w, PF_DENTRY_NAME), np;
	uint32_t len;

	if (vmi_read_u32(w->v, q + off(w, PF_QSTR_LEN), &len) ||
	    vmi_read_ptr(w->v, q + off(w, PF_QSTR_NAME), &np) || !np)
		return -EFAULT;
	if (len > cap)
		return -E2BIG;
	if (len && vmi_read(w->v, np, name, len))
		return -EFAULT;
	return (long)strnlen(name, len);
}

/*
 * Prepend d's name itself, leaving room for `keep` more bytes before it
 * (so a component is kept whole or not at all). 0 or the LNX_WALK_* reason.
 */
static unsigned int prepend_dname(struct fwalk *w, gva_t d, size_t keep)
{
	/* Read into the unused front of buf, then move it into place. */
	long n = keep <= w->pos ? dentry_name(w, d, w->buf, w->pos - keep) : -E2BIG;

	if (n < 0)
		return n == -EFAULT ? LNX_WALK_FAULT : LNX_WALK_CAP;
	memmove(w->buf + w->pos - (size_t)n, w->buf, (size_t)n);
	w->pos -= (size_t)n;
	return 0;
}

/* Prepend "/" + d's name. 0 or the LNX_WALK_* reason to stop. */
static unsigned int prepend_component(struct fwalk *w, gva_t d)
{
	unsigned int why = prepend_dname(w, d, 1);

	if (!why)
		prepend(w, "/", 1);	/* room was kept */
	return why;
}

/* Why a walk that reached its bound stopped: a repeated node or depth. */
static unsigned int bound_reason(const gva_t *trail, size_t n)
{
	return trail_has_cycle(trail, n) ? LNX_WALK_CYCLE : LNX_WALK_CAP;
}

/*
 * Cross from the root of mount *mnt to where it is mounted. Returns 1 at
 * the global root (a mount that is its own parent), 0 after crossing, or
 * -EFAULT.
 */
static int cross_mount(struct fwalk *w, gva_t *d, gva_t *mnt)
{
	gva_t mount = *mnt - off(w, PF_MOUNT_MNT), parent, mp;

	if (read_kptr(w, mount + off(w, PF_MOUNT_PARENT), &parent))
		return -EFAULT;
	if (parent == mount)
		return 1;
	if (read_kptr(w, mount + off(w, PF_MOUNT_MOUNTPOINT), &mp))
		return -EFAULT;
	*d = mp;
	*mnt = parent + off(w, PF_MOUNT_MNT);
	return 0;
}

/*
 * Walk from (d, mnt) to the global root as the kernel's prepend_path()
 * does, prepending names. Returns 0 when the root was reached, or the
 * LNX_WALK_* reason the walk stopped early.
 */
static unsigned int walk_path(struct fwalk *w, gva_t d, gva_t mnt)
{
	size_t depth = 0, crossings = 0;
	unsigned int why = 0;
	gva_t root, parent;

	if (read_kptr(w, mnt + off(w, PF_VFSMOUNT_ROOT), &root))
		return LNX_WALK_FAULT;
	for (;; w->steps_left--) {
		if (!w->steps_left)
			return LNX_WALK_CAP;
		if (d == root) {
			int r = cross_mount(w, &d, &mnt);

			if (r)
				return r > 0 ? 0 : LNX_WALK_FAULT;
			if (crossings == LNX_PATH_DEPTH)
				return bound_reason(w->mtrail, crossings);
			w->mtrail[crossings++] = mnt;
			if (read_kptr(w, mnt + off(w, PF_VFSMOUNT_ROOT), &root))
				return LNX_WALK_FAULT;
			continue;
		}
		if (read_kptr(w, d + off(w, PF_DENTRY_PARENT), &parent))
			return LNX_WALK_FAULT;
		if (parent == d)	/* a root that is not the mount's: stop */
			return 0;
		if (depth == LNX_PATH_DEPTH)
			return bound_reason(w->trail, depth);
		w->trail[depth++] = d;
		why = prepend_component(w, d);
		if (why)
			return why;
		d = parent;
	}
}

/*
 * Files made by alloc_file_pseudo() on a filesystem with no dentry ops of
 * its own (memfd and SysV shm on tmpfs, hugetlbfs, secretmem) get the
 * kernel's simple_dname(): "/NAME (deleted)". Their dentry is a root that
 * is not its mount's root.
 */
static bool simple_dname_fs(uint64_t magic)
{
	return magic == TMPFS_MAGIC || magic == HUGETLBFS_MAGIC ||
	       magic == SECRETMEM_MAGIC;
}

static bool is_pseudo_dentry(struct fwalk *w, gva_t d, gva_t mnt)
{
	gva_t parent, root;

	return !read_kptr(w, d + off(w, PF_DENTRY_PARENT), &parent) &&
	       !read_kptr(w, mnt + off(w, PF_VFSMOUNT_ROOT), &root) &&
	       parent == d && d != root;
}

/* d_unlinked(): unhashed and not a root. Needs d_hash in the profile. */
static bool dentry_unlinked(struct fwalk *w, gva_t d)
{
	gva_t pprev, parent;

	if (!profile_has(w->p, PF_DENTRY_HASH_PPREV) ||
	    vmi_read_ptr(w->v, d + off(w, PF_DENTRY_HASH_PPREV), &pprev) || pprev)
		return false;
	return !read_kptr(w, d + off(w, PF_DENTRY_PARENT), &parent) && parent != d;
}

/* What d_path() prints for a file in a filesystem: a path, or "/". */
static unsigned int name_path(struct fwalk *w, gva_t d, gva_t mnt,
			      uint64_t magic)
{
	unsigned int why;
	size_t mark;

	if (simple_dname_fs(magic) && is_pseudo_dentry(w, d, mnt)) {
		prepend(w, " (deleted)", 10);
		return prepend_component(w, d);
	}
	if (dentry_unlinked(w, d))
		prepend(w, " (deleted)", 10);
	mark = w->pos;
	why = walk_path(w, d, mnt);
	if (!why && w->pos == mark)	/* the root itself */
		prepend(w, "/", 1);
	return why;
}

/* Build the readlink text for a file of the given kind into w->buf. */
static unsigned int file_name(struct fwalk *w, struct lnx_file *f, gva_t d,
			      gva_t mnt, uint64_t magic)
{
	char tmp[64];
	unsigned int why;
	int n;

	w->pos = sizeof(w->buf) - 1;
	w->buf[w->pos] = '\0';
	switch (f->kind) {
	case LNX_FILE_SOCKET:
	case LNX_FILE_PIPE:
		n = snprintf(tmp, sizeof(tmp), "%s:[%llu]",
			     f->kind == LNX_FILE_SOCKET ? "socket" : "pipe",
			     (unsigned long long)f->ino);
		prepend(w, tmp, (size_t)n);
		return 0;
	case LNX_FILE_ANON:
		why = prepend_dname(w, d, 11);
		if (!why && !prepend(w, "anon_inode:", 11))
			why = LNX_WALK_CAP;
		return why;
	default:
		return name_path(w, d, mnt, magic);
	}
}

static enum lnx_file_kind kind_of(uint64_t magic)
{
	switch (magic) {
	case SOCKFS_MAGIC: return LNX_FILE_SOCKET;
	case PIPEFS_MAGIC: return LNX_FILE_PIPE;
	case ANON_INODE_FS_MAGIC: return LNX_FILE_ANON;
	default: return LNX_FILE_REG;
	}
}

/* Mode, inode number, kind and fs magic from f_inode. -EFAULT if unreadable. */
static int read_inode(struct fwalk *w, gva_t inode, struct lnx_file *f,
		      uint64_t *magic)
{
	uint16_t mode;
	uint64_t ino;
	gva_t sb;

	if (vmi_read(w->v, inode + off(w, PF_INODE_MODE), &mode, sizeof(mode)) ||
	    vmi_read_u64(w->v, inode + off(w, PF_INODE_INO), &ino) ||
	    read_kptr(w, inode + off(w, PF_INODE_SB), &sb) ||
	    vmi_read_u64(w->v, sb + off(w, PF_SB_MAGIC), magic))
		return -EFAULT;
	f->mode = mode;
	f->ino = ino;
	f->kind = kind_of(*magic);
	return 0;
}

static int list_push(struct lnx_file_list *l, struct lnx_file **f)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct lnx_file *nv = realloc(l->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = cap;
	}
	*f = &l->v[l->n++];
	memset(*f, 0, sizeof(**f));
	return 0;
}

/*
 * Add the open file at filp as descriptor fd. A file that cannot be read
 * is left out (and flagged): one bad pointer must not hide the rest.
 */
static int file_one(struct fwalk *w, int32_t fd, gva_t filp)
{
	gva_t fp = filp + off(w, PF_FILE_PATH), inode, d, mnt;
	struct lnx_file *f;
	uint64_t magic = 0;
	unsigned int why;
	int err;

	if (!file_kptr_ok(filp) ||
	    read_kptr(w, filp + off(w, PF_FILE_INODE), &inode) ||
	    read_kptr(w, fp + off(w, PF_PATH_DENTRY), &d) ||
	    read_kptr(w, fp + off(w, PF_PATH_MNT), &mnt)) {
		w->out->flags |= LNX_WALK_FAULT;
		return 0;
	}
	err = list_push(w->out, &f);
	if (err)
		return err;
	f->fd = fd;
	f->kind = LNX_FILE_OTHER;
	if (read_inode(w, inode, f, &magic))
		w->out->flags |= LNX_WALK_FAULT;	/* kind unknown; path still */
	why = file_name(w, f, d, mnt, magic);
	if (why) {
		w->out->flags |= why;
		f->path_truncated = true;
	}
	f->path = strdup(w->buf + w->pos);
	if (!f->path) {
		w->out->n--;
		return -ENOMEM;
	}
	return 0;
}

/* Walk fd[0..nfds) a page at a time; stop at the first unreadable page. */
static int walk_fds(struct fwalk *w, gva_t arr, uint32_t nfds)
{
	uint32_t i = 0;
	int err;

	while (i < nfds) {
		gva_t a = arr + (gva_t)i * sizeof(gva_t);
		size_t cnt = (HV_PAGE_SIZE - (a & (HV_PAGE_SIZE - 1))) / sizeof(gva_t);

		if (cnt > nfds - i)
			cnt = nfds - i;
		if (vmi_read(w->v, a, w->fds, cnt * sizeof(gva_t))) {
			w->out->flags |= LNX_WALK_FAULT;
			return 0;
		}
		for (size_t j = 0; j < cnt; j++) {
			if (!w->fds[j])
				continue;
			err = file_one(w, (int32_t)(i + j), w->fds[j]);
			if (err)
				return err;
		}
		i += (uint32_t)cnt;
	}
	return 0;
}

static bool file_profile_ok(const struct profile *p)
{
	for (size_t i = 0; i < sizeof(file_fields) / sizeof(file_fields[0]); i++)
		if (!profile_has(p, file_fields[i]))
			return false;
	return true;
}

/* files -> fdt -> (max_fds, fd[]); 0 with flags when unreadable. */
static int fdt_walk(struct fwalk *w, gva_t task)
{
	gva_t files, fdt, arr;
	uint32_t max;

	if (vmi_read_ptr(w->v, task + off(w, PF_TASK_FILES), &files)) {
		w->out->flags |= LNX_WALK_FAULT;
		return 0;
	}
	if (!files)	/* kernel thread or exited: no table, as in /proc */
		return 0;
	if (!file_kptr_ok(files) ||
	    read_kptr(w, files + off(w, PF_FILES_FDT), &fdt) ||
	    vmi_read_u32(w->v, fdt + off(w, PF_FDTABLE_MAX_FDS), &max) ||
	    read_kptr(w, fdt + off(w, PF_FDTABLE_FD), &arr)) {
		w->out->flags |= LNX_WALK_FAULT;
		return 0;
	}
	if (max > LNX_FDS_MAX) {
		w->out->flags |= LNX_WALK_CAP;
		max = LNX_FDS_MAX;
	}
	return walk_fds(w, arr, max);
}

int lnx_files(struct vmi *v, const struct lnx_task *t, struct lnx_file_list *out)
{
	struct fwalk *w;
	int err;

	memset(out, 0, sizeof(*out));
	out->pid = t->pid;
	if (!file_profile_ok(vmi_profile(v)))
		return -EOPNOTSUPP;
	w = malloc(sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->v = v;
	w->p = vmi_profile(v);
	w->out = out;
	w->steps_left = FILE_WALK_STEPS;
	err = fdt_walk(w, t->addr);
	free(w);
	if (err) {
		lnx_file_list_release(out);
		out->pid = t->pid;
	}
	return err;
}

void lnx_file_list_release(struct lnx_file_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

const char *lnx_file_kind_str(enum lnx_file_kind k)
{
	switch (k) {
	case LNX_FILE_REG: return "file";
	case LNX_FILE_SOCKET: return "socket";
	case LNX_FILE_PIPE: return "pipe";
	case LNX_FILE_ANON: return "anon_inode";
	case LNX_FILE_OTHER: return "other";
	}
	return "unknown";
}
