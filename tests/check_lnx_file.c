/*
 * check_lnx_file.c - lnx_files() over fd tables, files, inodes, dentries
 * and mounts built in memhv guest memory with a hand-filled profile: a
 * normal table (paths across three mounts, socket, pipe, anon inode, the
 * root directory) and hostile ones (absurd max_fds, unmapped or wild
 * pointers, dentry and mount cycles, very deep chains, very long names).
 * Each must give a defined result.
 */
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

static gpa_t pa_of(gva_t va)
{
	ck_assert(va >= DMAP && va < DMAP + DMAP_LEN);
	return va - DMAP;
}

static void w64(gva_t va, uint64_t val)
{
	ck_assert_int_eq(memhv_write_u64(hv, pa_of(va), val), 0);
}

static void w32(gva_t va, uint32_t val)
{
	ck_assert_int_eq(memhv_write(hv, pa_of(va), &val, sizeof(val)), 0);
}

static void wbuf(gva_t va, const void *buf, size_t len)
{
	ck_assert_int_eq(memhv_write(hv, pa_of(va), buf, len), 0);
}

static gva_t alloc_obj(size_t len)
{
	gva_t va = DMAP + next_pa;

	next_pa += (len + 63) & ~63ull;
	ck_assert_uint_le(next_pa, DMAP_LEN);
	return va;
}

static gva_t new_sb(uint64_t magic)
{
	gva_t sb = alloc_obj(0x100);

	w64(sb + SB_MAGIC, magic);
	return sb;
}

static gva_t new_inode(uint16_t mode, uint64_t ino, gva_t sb)
{
	gva_t i = alloc_obj(0x100);

	wbuf(i + I_MODE, &mode, sizeof(mode));
	w64(i + I_INO, ino);
	w64(i + I_SB, sb);
	return i;
}

/* A dentry with d_name = (name, len); parent 0 means itself (a root). */
static gva_t new_dentry_raw(gva_t name, uint32_t len, gva_t parent)
{
	gva_t d = alloc_obj(D_SIZEOF);

	w64(d + D_PARENT, parent ? parent : d);
	w64(d + D_HASH_PPREV, parent ? d : 0);	/* roots are never hashed */
	w32(d + D_NAME + Q_LEN, len);
	w64(d + D_NAME + Q_NAME, name);
	return d;
}

static gva_t new_dentry(const char *name, gva_t parent)
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
static gva_t new_mount(gva_t root, gva_t parent_mnt, gva_t mountpoint)
{
	gva_t m = alloc_obj(MNT_SIZEOF), vfs = m + MNT_MNT;

	w64(vfs, root);
	w64(m + MNT_PARENT, parent_mnt ? parent_mnt - MNT_MNT : m);
	w64(m + MNT_MOUNTPOINT, mountpoint ? mountpoint : root);
	return vfs;
}

static gva_t new_file(gva_t dentry, gva_t mnt, gva_t inode)
{
	gva_t f = alloc_obj(0x80);

	w64(f + F_PATH, mnt);
	w64(f + F_PATH + 8, dentry);
	w64(f + F_INODE, inode);
	return f;
}

/* A task whose fd table is fds[0..n) with max_fds = max. */
static gva_t new_task_at(gva_t arr, const gva_t *fds, size_t n, uint32_t max)
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

static gva_t new_task(const gva_t *fds, size_t n, uint32_t max)
{
	return new_task_at(alloc_obj((max > n ? max : n) * 8), fds, n, max);
}

static int files_of(gva_t task)
{
	struct lnx_task t = { .addr = task, .pid = 42 };

	lnx_file_list_release(&fl);
	return lnx_files(vmi, &t, &fl);
}

static void fill_profile(void)
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
static void build_tree(void)
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

static void setup(void)
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

static void teardown(void)
{
	lnx_file_list_release(&fl);
	vmi_free(vmi);
	hv_free(hv);
}

/* A file on the root mount whose dentry is d. */
static gva_t task_with_dentry(gva_t d)
{
	gva_t f = new_file(d, w.root_mnt, w.reg_inode);

	return new_task(&f, 1, 64);
}

START_TEST(test_normal_table_names_files_as_readlink_does)
{
	gva_t fds[] = { w.null_file, w.passwd_file, 0, w.sock_file, w.pipe_file,
			w.anon_file, w.tty_file, w.rootdir_file };

	ck_assert_int_eq(files_of(new_task(fds, 8, 64)), 0);
	ck_assert_uint_eq(fl.flags, 0);
	ck_assert_int_eq(fl.pid, 42);
	ck_assert_uint_eq(fl.n, 7);
	ck_assert_int_eq(fl.v[0].fd, 0);
	ck_assert_str_eq(fl.v[0].path, "/dev/null");
	ck_assert_int_eq(fl.v[1].fd, 1);
	ck_assert_str_eq(fl.v[1].path, "/etc/passwd");
	ck_assert_int_eq(fl.v[1].kind, LNX_FILE_REG);
	ck_assert_uint_eq(fl.v[1].ino, 4242);
	ck_assert_uint_eq(fl.v[1].mode, 0100644);
	ck_assert_int_eq(fl.v[2].fd, 3);
	ck_assert_str_eq(fl.v[2].path, "socket:[12345]");
	ck_assert_int_eq(fl.v[2].kind, LNX_FILE_SOCKET);
	ck_assert_str_eq(fl.v[3].path, "pipe:[777]");
	ck_assert_int_eq(fl.v[3].kind, LNX_FILE_PIPE);
	ck_assert_str_eq(fl.v[4].path, "anon_inode:[eventfd]");
	ck_assert_int_eq(fl.v[4].kind, LNX_FILE_ANON);
	ck_assert_str_eq(fl.v[5].path, "/dev/pts/0");
	ck_assert_str_eq(fl.v[6].path, "/");
	for (size_t i = 0; i < fl.n; i++)
		ck_assert(!fl.v[i].path_truncated);
}
END_TEST

START_TEST(test_unlinked_file_gets_deleted_suffix)
{
	gva_t d = new_dentry("gone", w.etc);

	w64(d + D_HASH_PPREV, 0);
	ck_assert_int_eq(files_of(task_with_dentry(d)), 0);
	ck_assert_uint_eq(fl.flags, 0);
	ck_assert_str_eq(fl.v[0].path, "/etc/gone (deleted)");
}
END_TEST

START_TEST(test_profile_without_d_hash_gives_no_suffix)
{
	gva_t d = new_dentry("gone", w.etc);

	w64(d + D_HASH_PPREV, 0);
	prof.off[PF_DENTRY_HASH_PPREV] = PROFILE_NOFIELD;
	ck_assert_int_eq(files_of(task_with_dentry(d)), 0);
	ck_assert_str_eq(fl.v[0].path, "/etc/gone");
}
END_TEST

START_TEST(test_memfd_is_named_like_simple_dname)
{
	gva_t sb = new_sb(TMPFS_MAGIC), shm_root = new_dentry("/", 0);
	gva_t shm_mnt = new_mount(shm_root, 0, 0);
	gva_t tmp = new_dentry("tmp", w.root), tmp_root = new_dentry("/", 0);
	gva_t tmp_mnt = new_mount(tmp_root, w.root_mnt, tmp);
	gva_t fds[2];

	fds[0] = new_file(new_dentry("memfd:payload", 0), shm_mnt,
			  new_inode(0100777, 9, sb));
	fds[1] = new_file(tmp_root, tmp_mnt, new_inode(041777, 1, sb));
	ck_assert_int_eq(files_of(new_task(fds, 2, 64)), 0);
	ck_assert_uint_eq(fl.flags, 0);
	ck_assert_uint_eq(fl.n, 2);
	ck_assert_str_eq(fl.v[0].path, "/memfd:payload (deleted)");
	ck_assert_int_eq(fl.v[0].kind, LNX_FILE_REG);
	ck_assert_str_eq(fl.v[1].path, "/tmp");
}
END_TEST

START_TEST(test_task_without_files_gives_empty_list)
{
	gva_t t = alloc_obj(T_SIZEOF);

	ck_assert_int_eq(files_of(t), 0);
	ck_assert_uint_eq(fl.n, 0);
	ck_assert_uint_eq(fl.flags, 0);
}
END_TEST

START_TEST(test_unreadable_task_gives_empty_list_with_fault)
{
	ck_assert_int_eq(files_of(UNMAPPED), 0);
	ck_assert_uint_eq(fl.n, 0);
	ck_assert_uint_eq(fl.flags, LNX_WALK_FAULT);
}
END_TEST

START_TEST(test_huge_max_fds_is_capped_and_flagged)
{
	gva_t fds[] = { w.passwd_file, 0, w.null_file };
	gva_t arr = alloc_obj(LNX_FDS_MAX * 8);	/* all of it readable */
	gva_t t = new_task_at(arr, fds, 3, 1u << 31);

	w64(arr + (LNX_FDS_MAX - 1) * 8ull, w.sock_file);
	ck_assert_int_eq(files_of(t), 0);
	ck_assert_uint_eq(fl.flags, LNX_WALK_CAP);
	ck_assert_uint_eq(fl.n, 3);
	ck_assert_int_eq(fl.v[2].fd, (int32_t)LNX_FDS_MAX - 1);
}
END_TEST

START_TEST(test_huge_max_fds_over_short_array_stops_at_fault)
{
	gva_t fds[] = { w.passwd_file };
	gva_t arr = DMAP + DMAP_LEN - 4096;	/* last mapped page */
	gva_t t = new_task_at(arr, fds, 1, 0xffffffffu);

	ck_assert_int_eq(files_of(t), 0);
	ck_assert_uint_eq(fl.flags, LNX_WALK_CAP | LNX_WALK_FAULT);
	ck_assert_uint_eq(fl.n, 1);
}
END_TEST

START_TEST(test_unmapped_fd_array_gives_fault_and_no_files)
{
	ck_assert_int_eq(files_of(new_task_at(UNMAPPED, NULL, 0, 64)), 0);
	ck_assert_uint_eq(fl.n, 0);
	ck_assert_uint_eq(fl.flags, LNX_WALK_FAULT);
}
END_TEST

START_TEST(test_misaligned_fd_array_gives_fault_and_no_files)
{
	gva_t fds[] = { w.passwd_file };

	ck_assert_int_eq(files_of(new_task_at(alloc_obj(64) + 4, fds, 1, 64)), 0);
	ck_assert_uint_eq(fl.n, 0);
	ck_assert_uint_eq(fl.flags, LNX_WALK_FAULT);
}
END_TEST

START_TEST(test_wild_file_pointers_are_skipped_with_fault)
{
	gva_t fds[] = { w.passwd_file, UNMAPPED, 0x4141414141414141ull,
			w.passwd_file + 4, w.null_file };

	ck_assert_int_eq(files_of(new_task(fds, 5, 64)), 0);
	ck_assert_uint_eq(fl.flags, LNX_WALK_FAULT);
	ck_assert_uint_eq(fl.n, 2);
	ck_assert_int_eq(fl.v[0].fd, 0);
	ck_assert_int_eq(fl.v[1].fd, 4);
	ck_assert_str_eq(fl.v[1].path, "/dev/null");
}
END_TEST

START_TEST(test_unreadable_inode_keeps_path_as_other)
{
	gva_t f = new_file(w.passwd, w.root_mnt, UNMAPPED);

	ck_assert_int_eq(files_of(new_task(&f, 1, 64)), 0);
	ck_assert_uint_eq(fl.n, 1);
	ck_assert_uint_eq(fl.flags, LNX_WALK_FAULT);
	ck_assert_int_eq(fl.v[0].kind, LNX_FILE_OTHER);
	ck_assert_str_eq(fl.v[0].path, "/etc/passwd");
}
END_TEST

START_TEST(test_dentry_parent_cycle_stops_with_cycle_flag)
{
	gva_t a = new_dentry("a", w.root), b = new_dentry("b", a);

	w64(a + D_PARENT, b);	/* a <-> b, never reaching the root */
	ck_assert_int_eq(files_of(task_with_dentry(b)), 0);
	ck_assert_uint_eq(fl.n, 1);
	ck_assert_uint_eq(fl.flags, LNX_WALK_CYCLE);
	ck_assert(fl.v[0].path_truncated);
	ck_assert_uint_le(strlen(fl.v[0].path), LNX_PATH_DEPTH * 2);
}
END_TEST

/* A chain of n dentries named "d" under the root; returns the deepest. */
static gva_t chain(size_t n, const char *name)
{
	gva_t d = w.root;

	for (size_t i = 0; i < n; i++)
		d = new_dentry(name, d);
	return d;
}

START_TEST(test_chain_of_exactly_depth_cap_is_complete)
{
	ck_assert_int_eq(files_of(task_with_dentry(chain(LNX_PATH_DEPTH, "d"))), 0);
	ck_assert_uint_eq(fl.flags, 0);
	ck_assert(!fl.v[0].path_truncated);
	ck_assert_uint_eq(strlen(fl.v[0].path), LNX_PATH_DEPTH * 2);
}
END_TEST

START_TEST(test_very_deep_chain_is_cut_at_depth_cap)
{
	ck_assert_int_eq(files_of(task_with_dentry(chain(1000, "d"))), 0);
	ck_assert_uint_eq(fl.n, 1);
	ck_assert_uint_eq(fl.flags, LNX_WALK_CAP);
	ck_assert(fl.v[0].path_truncated);
	ck_assert_uint_eq(strlen(fl.v[0].path), LNX_PATH_DEPTH * 2);
	ck_assert_uint_eq(strspn(fl.v[0].path, "/d"), LNX_PATH_DEPTH * 2);
}
END_TEST

START_TEST(test_walk_budget_keeps_listing_files_with_empty_paths)
{
	gva_t f = new_file(chain(LNX_PATH_DEPTH, "d"), w.root_mnt, w.reg_inode);
	gva_t arr = alloc_obj(LNX_FDS_MAX * 8);
	gva_t t = new_task_at(arr, NULL, 0, LNX_FDS_MAX);

	for (size_t i = 0; i < LNX_FDS_MAX; i++)
		w64(arr + i * 8, i == LNX_FDS_MAX - 1 ? w.sock_file : f);
	ck_assert_int_eq(files_of(t), 0);
	ck_assert_uint_eq(fl.n, LNX_FDS_MAX);
	ck_assert_uint_eq(fl.flags, LNX_WALK_CAP);
	ck_assert(!fl.v[0].path_truncated);
	ck_assert_uint_eq(strlen(fl.v[0].path), LNX_PATH_DEPTH * 2);
	ck_assert(fl.v[LNX_FDS_MAX - 2].path_truncated);
	ck_assert_str_eq(fl.v[LNX_FDS_MAX - 2].path, "");
	ck_assert_uint_eq(fl.v[LNX_FDS_MAX - 2].ino, 4242);
	/* Names that need no walk are still given. */
	ck_assert_str_eq(fl.v[LNX_FDS_MAX - 1].path, "socket:[12345]");
}
END_TEST

START_TEST(test_long_names_within_limit_are_complete)
{
	char name[301], want[1024] = "";

	memset(name, 'n', 300);
	name[300] = '\0';
	ck_assert_int_eq(files_of(task_with_dentry(chain(3, name))), 0);
	for (int i = 0; i < 3; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "/%s", name);
	ck_assert_uint_eq(fl.flags, 0);
	ck_assert_str_eq(fl.v[0].path, want);
}
END_TEST

START_TEST(test_path_longer_than_cap_keeps_tail_and_is_truncated)
{
	char name[256];

	memset(name, 'x', 255);
	name[255] = '\0';
	ck_assert_int_eq(files_of(task_with_dentry(chain(20, name))), 0);
	ck_assert_uint_eq(fl.flags, LNX_WALK_CAP);
	ck_assert(fl.v[0].path_truncated);
	ck_assert_uint_lt(strlen(fl.v[0].path), LNX_PATH_MAX);
	ck_assert_uint_eq(strlen(fl.v[0].path) % 256, 0);	/* whole components */
}
END_TEST

START_TEST(test_absurd_name_length_is_cut_not_read)
{
	gva_t d = new_dentry_raw(DMAP + OBJ_PA, 0xffffffffu, w.root);

	ck_assert_int_eq(files_of(task_with_dentry(d)), 0);
	ck_assert_uint_eq(fl.flags, LNX_WALK_CAP);
	ck_assert(fl.v[0].path_truncated);
	ck_assert_str_eq(fl.v[0].path, "");
}
END_TEST

START_TEST(test_unmapped_name_gives_fault_and_truncated_path)
{
	gva_t d = new_dentry_raw(UNMAPPED, 5, w.etc);

	ck_assert_int_eq(files_of(task_with_dentry(d)), 0);
	ck_assert_uint_eq(fl.flags, LNX_WALK_FAULT);
	ck_assert(fl.v[0].path_truncated);
}
END_TEST

START_TEST(test_name_with_nul_inside_stops_at_nul)
{
	gva_t n = alloc_obj(16), d;

	wbuf(n, "ab\0cdefgh", 10);
	d = new_dentry_raw(n, 9, w.etc);
	ck_assert_int_eq(files_of(task_with_dentry(d)), 0);
	ck_assert_uint_eq(fl.flags, 0);
	ck_assert_str_eq(fl.v[0].path, "/etc/ab");
}
END_TEST

START_TEST(test_mount_cycle_stops_with_cycle_flag)
{
	gva_t r1 = new_dentry("/", 0), r2 = new_dentry("/", 0);
	gva_t m1 = new_mount(r1, 0, 0), m2 = new_mount(r2, m1, r1);
	gva_t x = new_dentry("x", r1), f;

	w64(m1 - MNT_MNT + MNT_PARENT, m2 - MNT_MNT);	/* m1 on m2 on m1 */
	w64(m1 - MNT_MNT + MNT_MOUNTPOINT, r2);
	f = new_file(x, m1, w.reg_inode);
	ck_assert_int_eq(files_of(new_task(&f, 1, 64)), 0);
	ck_assert_uint_eq(fl.n, 1);
	ck_assert_uint_eq(fl.flags, LNX_WALK_CYCLE);
	ck_assert(fl.v[0].path_truncated);
	ck_assert_str_eq(fl.v[0].path, "/x");
}
END_TEST

START_TEST(test_unmapped_mount_parent_gives_fault)
{
	gva_t f = new_file(w.null, w.dev_mnt, w.reg_inode);

	w64(w.dev_mnt - MNT_MNT + MNT_PARENT, UNMAPPED);
	ck_assert_int_eq(files_of(new_task(&f, 1, 64)), 0);
	ck_assert_uint_eq(fl.flags, LNX_WALK_FAULT);
	ck_assert(fl.v[0].path_truncated);
	ck_assert_str_eq(fl.v[0].path, "/null");
}
END_TEST

START_TEST(test_profile_missing_a_field_is_refused)
{
	gva_t fds[] = { w.passwd_file };

	prof.off[PF_MOUNT_MNT] = PROFILE_NOFIELD;
	ck_assert_int_eq(files_of(new_task(fds, 1, 64)), -EOPNOTSUPP);
	ck_assert_uint_eq(fl.n, 0);
}
END_TEST

START_TEST(test_kind_strings_are_distinct_and_total)
{
	ck_assert_str_eq(lnx_file_kind_str(LNX_FILE_SOCKET), "socket");
	ck_assert_str_eq(lnx_file_kind_str(LNX_FILE_PIPE), "pipe");
	ck_assert_str_eq(lnx_file_kind_str(LNX_FILE_ANON), "anon_inode");
	ck_assert_str_ne(lnx_file_kind_str(LNX_FILE_REG),
			 lnx_file_kind_str(LNX_FILE_OTHER));
	ck_assert_str_eq(lnx_file_kind_str((enum lnx_file_kind)99), "unknown");
}
END_TEST

static Suite *lnx_file_suite(void)
{
	Suite *s = suite_create("lnx_file");
	TCase *tc = tcase_create("files");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_normal_table_names_files_as_readlink_does);
	tcase_add_test(tc, test_unlinked_file_gets_deleted_suffix);
	tcase_add_test(tc, test_profile_without_d_hash_gives_no_suffix);
	tcase_add_test(tc, test_memfd_is_named_like_simple_dname);
	tcase_add_test(tc, test_task_without_files_gives_empty_list);
	tcase_add_test(tc, test_unreadable_task_gives_empty_list_with_fault);
	tcase_add_test(tc, test_huge_max_fds_is_capped_and_flagged);
	tcase_add_test(tc, test_huge_max_fds_over_short_array_stops_at_fault);
	tcase_add_test(tc, test_unmapped_fd_array_gives_fault_and_no_files);
	tcase_add_test(tc, test_misaligned_fd_array_gives_fault_and_no_files);
	tcase_add_test(tc, test_wild_file_pointers_are_skipped_with_fault);
	tcase_add_test(tc, test_unreadable_inode_keeps_path_as_other);
	tcase_add_test(tc, test_dentry_parent_cycle_stops_with_cycle_flag);
	tcase_add_test(tc, test_chain_of_exactly_depth_cap_is_complete);
	tcase_add_test(tc, test_very_deep_chain_is_cut_at_depth_cap);
	tcase_add_test(tc, test_walk_budget_keeps_listing_files_with_empty_paths);
	tcase_add_test(tc, test_long_names_within_limit_are_complete);
	tcase_add_test(tc, test_path_longer_than_cap_keeps_tail_and_is_truncated);
	tcase_add_test(tc, test_absurd_name_length_is_cut_not_read);
	tcase_add_test(tc, test_unmapped_name_gives_fault_and_truncated_path);
	tcase_add_test(tc, test_name_with_nul_inside_stops_at_nul);
	tcase_add_test(tc, test_mount_cycle_stops_with_cycle_flag);
	tcase_add_test(tc, test_unmapped_mount_parent_gives_fault);
	tcase_add_test(tc, test_profile_missing_a_field_is_refused);
	tcase_add_test(tc, test_kind_strings_are_distinct_and_total);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lnx_file_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
