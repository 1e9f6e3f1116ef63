/*
 * lnx_file_fake.h - the synthetic kernel of the open-files tests
 * (check_lnx_file.c, check_lnx_file_path.c): fd tables, files, inodes,
 * dentries and mounts laid out in memhv guest memory, with a hand-filled
 * profile. Header-only, so each test program has its own copy.
 */
#ifndef UPCALLD_TESTS_LNX_FILE_FAKE_H
#define UPCALLD_TESTS_LNX_FILE_FAKE_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lnx.h"
#include "memhv.h"

#define RAM (64ull << 20)
#define DMAP 0xffff888000000000ull	/* direct map: va = DMAP + pa */
#define DMAP_LEN (32ull << 20)
#define OBJ_PA (1ull << 20)
#define UNMAPPED 0xffffc90000123000ull

/* Layout of the fake kernel structs. */
#define T_FILES 0x100
#define T_SIZEOF 0x200
#define FS_FDT 0x20
#define FDT_MAX 0
#define FDT_FD 8
#define F_PATH 0x10
#define F_INODE 0x20
#define D_HASH_PPREV 0x10
#define D_PARENT 0x18
#define D_NAME 0x20
#define Q_LEN 4
#define Q_NAME 8
#define D_INAME 0x80
#define D_SIZEOF 0xc0
#define I_MODE 0
#define I_INO 0x40
#define I_SB 0x28
#define SB_MAGIC 0x60
#define MNT_PARENT 0x10
#define MNT_MOUNTPOINT 0x18
#define MNT_MNT 0x20
#define MNT_SIZEOF 0x80

#define RAMFS_MAGIC 0x858458f6u
#define TMPFS_MAGIC 0x01021994u
#define DEVPTS_MAGIC 0x1cd1u

static struct hv *hv;
static struct profile prof;
static struct vmi *vmi;
static gpa_t next_pa;
static struct lnx_file_list fl;

/* The fake guest's filesystem tree, built by setup(). */
static struct {
	gva_t root_sb, root, root_mnt;	/* rootfs at / */
	gva_t dev, dev_root, dev_mnt;	/* devtmpfs at /dev */
	gva_t pts, pts_root, pts_mnt;	/* devpts at /dev/pts */
	gva_t etc, passwd, null, tty0;
	gva_t reg_inode;
	gva_t sock_file, pipe_file, anon_file, passwd_file, null_file,
	      tty_file, rootdir_file;
} w;

static __attribute__((unused)) gpa_t pa_of(gva_t va)
{
	ck_assert(va >= DMAP && va < DMAP + DMAP_LEN);
	return va - DMAP;
}

static __attribute__((unused)) void w64(gva_t va, uint64_t val)
{
	ck_assert_int_eq(memhv_write_u64(hv, pa_of(va), val), 0);
}

static __attribute__((unused)) void w32(gva_t va, uint32_t val)
{
	ck_assert_int_eq(memhv_write(hv, pa_of(va), &val, sizeof(val)), 0);
}

static __attribute__((unused)) void wbuf(gva_t va, const void *buf, size_t len)
{
	ck_assert_int_eq(memhv_write(hv, pa_of(va), buf, len), 0);
}

static __attribute__((unused)) gva_t alloc_obj(size_t len)
{
	gva_t va = DMAP + next_pa;

	next_pa += (len + 63) & ~63ull;
	ck_assert_uint_le(next_pa, DMAP_LEN);
	return va;
}

static __attribute__((unused)) gva_t new_sb(uint64_t magic)
{
	gva_t sb = alloc_obj(0x100);

	w64(sb + SB_MAGIC, magic);
	return sb;
}

static __attribute__((unused)) gva_t new_inode(uint16_t mode, uint64_t ino, gva_t sb)
{
	gva_t i = alloc_obj(0x100);

	wbuf(i + I_MODE, &mode, sizeof(mode));
	w64(i + I_INO, ino);
	w64(i + I_SB, sb);
	return i;
}

/* A dentry with d_name = (name, len); parent 0 means itself (a root). */
static __attribute__((unused)) gva_t new_dentry_raw(gva_t name, uint32_t len, gva_t parent)
{
	gva_t d = alloc_obj(D_SIZEOF);

	w64(d + D_PARENT, parent ? parent : d);
	w64(d + D_HASH_PPREV, parent ? d : 0);	/* roots are never hashed */
	w32(d + D_NAME + Q_LEN, len);
	w64(d + D_NAME + Q_NAME, name);
	return d;
}

static __attribute__((unused)) gva_t new_dentry(const char *name, gva_t parent)
{
	size_t len = strlen(name);
	gva_t d = new_dentry_raw(0, (uint32_t)len, parent), np = d + D_INAME;

	if (len >= 32)	/* like the kernel: long names live outside */
		np = alloc_obj(len + 1);
	wbuf(np, name, len + 1);
	w64(d + D_NAME + Q_NAME, np);
	return d;
}

/* A mount of root; parent_mnt 0 makes it its own parent (global root). */
static __attribute__((unused)) gva_t new_mount(gva_t root, gva_t parent_mnt, gva_t mountpoint)
{
	gva_t m = alloc_obj(MNT_SIZEOF), vfs = m + MNT_MNT;

	w64(vfs, root);
	w64(m + MNT_PARENT, parent_mnt ? parent_mnt - MNT_MNT : m);
	w64(m + MNT_MOUNTPOINT, mountpoint ? mountpoint : root);
	return vfs;
}

static __attribute__((unused)) gva_t new_file(gva_t dentry, gva_t mnt, gva_t inode)
{
	gva_t f = alloc_obj(0x80);

	w64(f + F_PATH, mnt);
	w64(f + F_PATH + 8, dentry);
	w64(f + F_INODE, inode);
	return f;
}

/* A task whose fd table is fds[0..n) with max_fds = max. */
static __attribute__((unused)) gva_t new_task_at(gva_t arr, const gva_t *fds, size_t n, uint32_t max)
{
	gva_t t = alloc_obj(T_SIZEOF), files = alloc_obj(0x40),
	      fdt = alloc_obj(0x40);

	w64(t + T_FILES, files);
	w64(files + FS_FDT, fdt);
	w32(fdt + FDT_MAX, max);
	w64(fdt + FDT_FD, arr);
	for (size_t i = 0; i < n; i++)
		w64(arr + i * 8, fds[i]);
	return t;
}

static __attribute__((unused)) gva_t new_task(const gva_t *fds, size_t n, uint32_t max)
{
	return new_task_at(alloc_obj((max > n ? max : n) * 8), fds, n, max);
}

static __attribute__((unused)) int files_of(gva_t task)
{
	struct lnx_task t = { .addr = task, .pid = 42 };

	lnx_file_list_release(&fl);
	return lnx_files(vmi, &t, &fl);
}

static __attribute__((unused)) void fill_profile(void)
{
	memset(&prof, 0, sizeof(prof));
	for (int i = 0; i < PF_COUNT; i++)
		prof.off[i] = PROFILE_NOFIELD;
	prof.off[PF_TASK_FILES] = T_FILES;
	prof.off[PF_FILES_FDT] = FS_FDT;
	prof.off[PF_FDTABLE_MAX_FDS] = FDT_MAX;
	prof.off[PF_FDTABLE_FD] = FDT_FD;
	prof.off[PF_FILE_PATH] = F_PATH;
	prof.off[PF_FILE_INODE] = F_INODE;
	prof.off[PF_PATH_MNT] = 0;
	prof.off[PF_PATH_DENTRY] = 8;
	prof.off[PF_DENTRY_PARENT] = D_PARENT;
	prof.off[PF_DENTRY_HASH_PPREV] = D_HASH_PPREV;
	prof.off[PF_DENTRY_NAME] = D_NAME;
	prof.off[PF_QSTR_LEN] = Q_LEN;
	prof.off[PF_QSTR_NAME] = Q_NAME;
	prof.off[PF_INODE_MODE] = I_MODE;
	prof.off[PF_INODE_INO] = I_INO;
	prof.off[PF_INODE_SB] = I_SB;
	prof.off[PF_SB_MAGIC] = SB_MAGIC;
	prof.off[PF_VFSMOUNT_ROOT] = 0;
	prof.off[PF_MOUNT_PARENT] = MNT_PARENT;
	prof.off[PF_MOUNT_MOUNTPOINT] = MNT_MOUNTPOINT;
	prof.off[PF_MOUNT_MNT] = MNT_MNT;
}

/* /, /etc/passwd, /dev (devtmpfs) /dev/null, /dev/pts (devpts) /dev/pts/0. */
static __attribute__((unused)) void build_tree(void)
{
	gva_t dev_sb = new_sb(TMPFS_MAGIC), pts_sb = new_sb(DEVPTS_MAGIC),
	      sock = new_inode(0140777, 12345, new_sb(0x534F434B)),
	      pipe = new_inode(010600, 777, new_sb(0x50495045)),
	      anon = new_inode(0600, 1, new_sb(0x09041934));

	w.root_sb = new_sb(RAMFS_MAGIC);
	w.root = new_dentry("/", 0);
	w.root_mnt = new_mount(w.root, 0, 0);
	w.etc = new_dentry("etc", w.root);
	w.passwd = new_dentry("passwd", w.etc);
	w.dev = new_dentry("dev", w.root);
	w.dev_root = new_dentry("/", 0);
	w.dev_mnt = new_mount(w.dev_root, w.root_mnt, w.dev);
	w.null = new_dentry("null", w.dev_root);
	w.pts = new_dentry("pts", w.dev_root);
	w.pts_root = new_dentry("/", 0);
	w.pts_mnt = new_mount(w.pts_root, w.dev_mnt, w.pts);
	w.tty0 = new_dentry("0", w.pts_root);
	w.reg_inode = new_inode(0100644, 4242, w.root_sb);
	w.passwd_file = new_file(w.passwd, w.root_mnt, w.reg_inode);
	w.null_file = new_file(w.null, w.dev_mnt, new_inode(020666, 5, dev_sb));
	w.tty_file = new_file(w.tty0, w.pts_mnt, new_inode(020620, 3, pts_sb));
	w.rootdir_file = new_file(w.root, w.root_mnt, new_inode(040755, 1, w.root_sb));
	/* Pseudo files: their mount and dentry are never walked as paths. */
	w.sock_file = new_file(new_dentry("", 0), w.root_mnt, sock);
	w.pipe_file = new_file(new_dentry("", 0), w.root_mnt, pipe);
	w.anon_file = new_file(new_dentry("[eventfd]", 0), w.root_mnt, anon);
}

static __attribute__((unused)) void setup(void)
{
	gpa_t root;

	ck_assert_int_eq(memhv_new("file", RAM, 1, &hv), 0);
	ck_assert_int_eq(memhv_alloc_page(hv, &root), 0);
	for (gpa_t pa = 0; pa < DMAP_LEN; pa += 2u << 20)
		ck_assert_int_eq(memhv_map(hv, root, 4, DMAP + pa, pa, 2u << 20), 0);
	fill_profile();
	ck_assert_int_eq(vmi_new_at(hv, &prof, root, 4, 0, 0, &vmi), 0);
	next_pa = OBJ_PA;
	memset(&fl, 0, sizeof(fl));
	build_tree();
}

static __attribute__((unused)) void teardown(void)
{
	lnx_file_list_release(&fl);
	vmi_free(vmi);
	hv_free(hv);
}

/* A file on the root mount whose dentry is d. */
static __attribute__((unused)) gva_t task_with_dentry(gva_t d)
{
	gva_t f = new_file(d, w.root_mnt, w.reg_inode);

	return new_task(&f, 1, 64);
}

#endif
