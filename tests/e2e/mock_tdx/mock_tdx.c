// SPDX-License-Identifier: GPL-2.0-only
/*
 * mock_tdx: a stand-in for the TDX guest driver, for tests under QEMU TCG (no TDX hardware).
 * It offers the kernel ABIs acond's tdx backend uses, with the real layouts:
 *   - /dev/tdx_guest (misc device "tdx_guest"): TDX_CMD_GET_REPORT0 = _IOWR('T', 1, 1088 bytes)
 *     fills a 1024-byte TDREPORT (type 0x81, REPORTDATA @128, MRTD @528, RTMR0..3 @720 + 48n,
 *     TEE_TCB_INFO_HASH @32 and TEE_INFO_HASH @80 computed as the TDX module does);
 *   - the legacy RTMR extend ioctl {u8 data[48]; u8 index} as _IOR('T', 3) = 0x80315403 and
 *     _IOW('T', 3) = 0x40315403 (Intel downstream drivers; RTMR2 and RTMR3 only, as those did);
 *   - the Linux 6.16 TSM measurements files under the misc device,
 *     measurements/rtmr{0..3}:sha384 (read 48 bytes; one 48-byte write at offset 0 extends),
 *     mrtd:sha384, mrconfigid, mrowner, mrownerconfig;
 *   - a configfs-tsm report provider named "tdx_guest" whose outblob is a quote-v4-shaped blob
 *     (header, TD 1.0 body at the standard offsets, then the TDREPORT as "signature data")
 *     carrying qe_vendor_id "MOCK-TDX-QUOTE!!", so no real verifier can take it for a quote.
 * The RTMRs live here; extend is RTMR := SHA-384(RTMR || value), as in hardware.
 *
 * Parameters (bool, default 1) choose which kernel the mock looks like: legacy_extend, sysfs_mr,
 * tsm. legacy_extend=0 sysfs_mr=0 is a stock 6.12 TD, where userspace cannot extend an RTMR.
 * Besides insmod arguments they are read from the kernel command line as mock_tdx.<name>=0|1,
 * which is what modprobe would do; acond loads modules with finit_module and no arguments.
 *
 * Test code only: never ship it in an image meant for a TD.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/miscdevice.h>
#include <linux/fs.h>
#include <linux/uaccess.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/tsm.h>
#include <linux/unaligned.h>
#include <crypto/hash.h>

#define MR_LEN 48
#define REPORTDATA_LEN 64
#define TDREPORT_LEN 1024

/* TDREPORT offsets (TDREPORT_STRUCT). */
#define R_TYPE 0
#define R_TCB_INFO_HASH 32
#define R_INFO_HASH 80
#define R_REPORTDATA 128
#define R_MAC 224
#define R_TCB_INFO 256
#define R_TCB_INFO_LEN 239
#define R_TCB_SVN 264
#define R_MRSEAM 280
#define R_TDINFO 512
#define R_XFAM 520
#define R_MRTD 528
#define R_MRCONFIGID 576
#define R_MROWNER 624
#define R_MROWNERCONFIG 672
#define R_RTMR0 720

/* Quote v4 (header 48, TD 1.0 body 584, u32 signature length, signature data). */
#define Q_HEADER 48
#define Q_BODY_LEN 584
#define Q_SIG_LEN (16 + TDREPORT_LEN)
#define Q_LEN (Q_HEADER + Q_BODY_LEN + 4 + Q_SIG_LEN)

struct mock_report_req {
	__u8 reportdata[REPORTDATA_LEN];
	__u8 tdreport[TDREPORT_LEN];
};

struct mock_extend_req {
	__u8 data[MR_LEN];
	__u8 index;
};

#define MOCK_GET_REPORT0 _IOWR('T', 1, struct mock_report_req)
#define MOCK_EXTEND_IOR _IOR('T', 3, struct mock_extend_req)
#define MOCK_EXTEND_IOW _IOW('T', 3, struct mock_extend_req)

static bool legacy_extend = true;
module_param(legacy_extend, bool, 0444);
MODULE_PARM_DESC(legacy_extend, "answer the legacy RTMR extend ioctls (else ENOTTY)");
static bool sysfs_mr = true;
module_param(sysfs_mr, bool, 0444);
MODULE_PARM_DESC(sysfs_mr, "offer the 6.16-style measurements/ sysfs files");
static bool tsm = true;
module_param(tsm, bool, 0444);
MODULE_PARM_DESC(tsm, "register the configfs-tsm report provider");

static DEFINE_MUTEX(mr_lock);
static u8 rtmr[4][MR_LEN];
static u8 mrtd[MR_LEN];
static u8 mrseam[MR_LEN];
static u8 mrconfigid[MR_LEN], mrowner[MR_LEN], mrownerconfig[MR_LEN];
static struct crypto_shash *sha384;
static bool tsm_registered;

static int sha(const void *data, unsigned int len, u8 *out)
{
	return crypto_shash_tfm_digest(sha384, data, len, out);
}

/* Caller holds mr_lock. */
static int extend_locked(unsigned int index, const u8 *value)
{
	u8 buf[2 * MR_LEN];

	memcpy(buf, rtmr[index], MR_LEN);
	memcpy(buf + MR_LEN, value, MR_LEN);
	return sha(buf, sizeof(buf), rtmr[index]);
}

/* Caller holds mr_lock. Fills r (TDREPORT_LEN bytes) for reportdata. */
static int build_report_locked(const u8 *reportdata, u8 *r)
{
	static const char mac[] = "MOCK-TDX: NO MAC, NOT HARDWARE";
	static const char svn[] = "MOCK-TDX-TCBSVN";
	int i, ret;

	memset(r, 0, TDREPORT_LEN);
	r[R_TYPE] = 0x81; /* TDX; subtype 0, version 0 */
	memcpy(r + R_REPORTDATA, reportdata, REPORTDATA_LEN);
	memcpy(r + R_MAC, mac, sizeof(mac));
	r[R_TCB_INFO] = 0xff; /* VALID bits */
	memcpy(r + R_TCB_SVN, svn, sizeof(svn));
	memcpy(r + R_MRSEAM, mrseam, MR_LEN);
	put_unaligned_le64(0x602e7ULL, r + R_XFAM); /* TD ATTRIBUTES stay 0: not a debug TD */
	memcpy(r + R_MRTD, mrtd, MR_LEN);
	memcpy(r + R_MRCONFIGID, mrconfigid, MR_LEN);
	memcpy(r + R_MROWNER, mrowner, MR_LEN);
	memcpy(r + R_MROWNERCONFIG, mrownerconfig, MR_LEN);
	for (i = 0; i < 4; i++)
		memcpy(r + R_RTMR0 + MR_LEN * i, rtmr[i], MR_LEN);
	ret = sha(r + R_TCB_INFO, R_TCB_INFO_LEN, r + R_TCB_INFO_HASH);
	if (!ret)
		ret = sha(r + R_TDINFO, TDREPORT_LEN - R_TDINFO, r + R_INFO_HASH);
	return ret;
}

static long get_report0(void __user *arg)
{
	struct mock_report_req *req;
	long ret;

	req = kzalloc(sizeof(*req), GFP_KERNEL);
	if (!req)
		return -ENOMEM;
	ret = -EFAULT;
	if (copy_from_user(req->reportdata, arg, REPORTDATA_LEN))
		goto out;
	mutex_lock(&mr_lock);
	ret = build_report_locked(req->reportdata, req->tdreport);
	mutex_unlock(&mr_lock);
	if (ret)
		goto out;
	if (copy_to_user(arg + REPORTDATA_LEN, req->tdreport, TDREPORT_LEN))
		ret = -EFAULT;
out:
	kfree(req);
	return ret;
}

static long extend_ioctl(void __user *arg)
{
	struct mock_extend_req req;
	long ret;

	if (copy_from_user(&req, arg, sizeof(req)))
		return -EFAULT;
	/* The downstream driver let userspace extend RTMR2 and RTMR3 only. */
	if (req.index < 2 || req.index > 3)
		return -EINVAL;
	mutex_lock(&mr_lock);
	ret = extend_locked(req.index, req.data);
	mutex_unlock(&mr_lock);
	return ret;
}

static long mock_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	switch (cmd) {
	case MOCK_GET_REPORT0:
		return get_report0((void __user *)arg);
	case MOCK_EXTEND_IOR:
	case MOCK_EXTEND_IOW:
		if (!legacy_extend)
			return -ENOTTY;
		return extend_ioctl((void __user *)arg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations mock_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = mock_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
};

/* ---- measurements/ (Linux 6.16 ABI) ---------------------------------------------------- */

/* private = index 0..3 for an RTMR, else the register's bytes. */
static ssize_t mr_read(struct file *f, struct kobject *k, struct bin_attribute *a, char *buf,
		       loff_t off, size_t count)
{
	u8 value[MR_LEN];
	uintptr_t which = (uintptr_t)a->private;

	if (off >= MR_LEN)
		return 0;
	count = min_t(size_t, count, MR_LEN - off);
	mutex_lock(&mr_lock);
	memcpy(value, which < 4 ? rtmr[which] : (const u8 *)a->private, MR_LEN);
	mutex_unlock(&mr_lock);
	memcpy(buf, value + off, count);
	return count;
}

static ssize_t rtmr_write(struct file *f, struct kobject *k, struct bin_attribute *a, char *buf,
			  loff_t off, size_t count)
{
	uintptr_t which = (uintptr_t)a->private;
	int ret;

	if (off != 0 || count != MR_LEN)
		return -EINVAL;
	mutex_lock(&mr_lock);
	ret = extend_locked(which, buf);
	mutex_unlock(&mr_lock);
	return ret ? ret : count;
}

#define RTMR_ATTR(n)                                                                       \
	static struct bin_attribute rtmr##n##_attr = {                                     \
		.attr = { .name = "rtmr" #n ":sha384", .mode = 0644 },                     \
		.size = MR_LEN,                                                            \
		.read = mr_read,                                                           \
		.write = rtmr_write,                                                       \
		.private = (void *)(uintptr_t)n,                                           \
	}
#define RO_ATTR(var, fname)                                                                \
	static struct bin_attribute var##_attr = {                                         \
		.attr = { .name = fname, .mode = 0444 },                                   \
		.size = MR_LEN,                                                            \
		.read = mr_read,                                                           \
		.private = var,                                                            \
	}
RTMR_ATTR(0);
RTMR_ATTR(1);
RTMR_ATTR(2);
RTMR_ATTR(3);
RO_ATTR(mrtd, "mrtd:sha384");
RO_ATTR(mrconfigid, "mrconfigid");
RO_ATTR(mrowner, "mrowner");
RO_ATTR(mrownerconfig, "mrownerconfig");

static struct bin_attribute *mr_attrs[] = {
	&rtmr0_attr, &rtmr1_attr, &rtmr2_attr, &rtmr3_attr, &mrtd_attr,
	&mrconfigid_attr, &mrowner_attr, &mrownerconfig_attr, NULL,
};
static const struct attribute_group mr_group = {
	.name = "measurements",
	.bin_attrs = mr_attrs,
};
static const struct attribute_group *mr_groups[] = { &mr_group, NULL };

static struct miscdevice mock_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "tdx_guest",
	.fops = &mock_fops,
};

/* ---- configfs-tsm provider ------------------------------------------------------------- */

static int mock_report_new(struct tsm_report *report, void *data)
{
	static const char vendor[16] = "MOCK-TDX-QUOTE!!";
	static const char tag[16] = "MOCKTDX-TDREPORT";
	u8 *q, *r, *body;
	int ret;

	/* As the real driver: REPORTDATA is exactly the 64-byte inblob. */
	if (report->desc.inblob_len != REPORTDATA_LEN)
		return -EINVAL;
	q = kvzalloc(Q_LEN, GFP_KERNEL); /* the tsm core kvfree()s outblob */
	if (!q)
		return -ENOMEM;
	r = q + Q_LEN - TDREPORT_LEN;
	mutex_lock(&mr_lock);
	ret = build_report_locked(report->desc.inblob, r);
	mutex_unlock(&mr_lock);
	if (ret) {
		kvfree(q);
		return ret;
	}
	put_unaligned_le16(4, q + 0);	/* version */
	put_unaligned_le16(2, q + 2);	/* att_key_type: ECDSA-P256 */
	put_unaligned_le32(0x81, q + 4); /* tee_type: TDX */
	memcpy(q + 12, vendor, sizeof(vendor));
	body = q + Q_HEADER;
	memcpy(body, r + R_TCB_SVN, 120);	  /* TEE_TCB_SVN, MRSEAM, MRSIGNERSEAM, SEAM attrs */
	memcpy(body + 120, r + R_TDINFO, 400);	  /* TD attrs, XFAM, MRTD, MRCONFIGID..RTMR3 */
	memcpy(body + 520, r + R_REPORTDATA, 64); /* REPORTDATA */
	put_unaligned_le32(Q_SIG_LEN, q + Q_HEADER + Q_BODY_LEN);
	memcpy(q + Q_HEADER + Q_BODY_LEN + 4, tag, sizeof(tag));
	report->outblob = q;
	report->outblob_len = Q_LEN;
	return 0;
}

static bool mock_attr_visible(int n)
{
	return n == TSM_REPORT_GENERATION || n == TSM_REPORT_PROVIDER;
}

static bool mock_bin_attr_visible(int n)
{
	return n == TSM_REPORT_INBLOB || n == TSM_REPORT_OUTBLOB;
}

static const struct tsm_ops mock_tsm_ops = {
	.name = "tdx_guest",
	.report_new = mock_report_new,
	.report_attr_visible = mock_attr_visible,
	.report_bin_attr_visible = mock_bin_attr_visible,
};

/* ---- parameters from the kernel command line ------------------------------------------- */

static void param_from_cmdline(const char *cmdline, const char *name, bool *value)
{
	char key[40];
	const char *p = cmdline;
	size_t klen;

	klen = snprintf(key, sizeof(key), "mock_tdx.%s=", name);
	while ((p = strstr(p, key))) {
		if (p == cmdline || p[-1] == ' ') {
			if (p[klen] == '0' || p[klen] == 'n' || p[klen] == 'N')
				*value = false;
			else if (p[klen] == '1' || p[klen] == 'y' || p[klen] == 'Y')
				*value = true;
		}
		p += klen;
	}
}

static void params_from_cmdline(void)
{
	struct file *f;
	char *buf;
	loff_t pos = 0;
	ssize_t n;

	f = filp_open("/proc/cmdline", O_RDONLY, 0);
	if (IS_ERR(f))
		return; /* /proc not mounted: insmod arguments only */
	buf = kzalloc(PAGE_SIZE, GFP_KERNEL);
	if (buf) {
		n = kernel_read(f, buf, PAGE_SIZE - 1, &pos);
		if (n > 0) {
			param_from_cmdline(buf, "legacy_extend", &legacy_extend);
			param_from_cmdline(buf, "sysfs_mr", &sysfs_mr);
			param_from_cmdline(buf, "tsm", &tsm);
		}
		kfree(buf);
	}
	filp_close(f, NULL);
}

static int __init mock_init(void)
{
	static const char mrtd_seed[] = "mock-tdx:mrtd";
	static const char mrseam_seed[] = "mock-tdx:mrseam";
	int ret;

	params_from_cmdline();
	sha384 = crypto_alloc_shash("sha384", 0, 0);
	if (IS_ERR(sha384))
		return PTR_ERR(sha384);
	ret = sha(mrtd_seed, sizeof(mrtd_seed) - 1, mrtd);
	if (!ret)
		ret = sha(mrseam_seed, sizeof(mrseam_seed) - 1, mrseam);
	if (ret)
		goto free_hash;
	if (sysfs_mr)
		mock_dev.groups = mr_groups;
	ret = misc_register(&mock_dev);
	if (ret)
		goto free_hash;
	if (tsm) {
		ret = tsm_register(&mock_tsm_ops, NULL);
		if (ret)
			goto deregister;
		tsm_registered = true;
	}
	pr_info("ready (legacy_extend=%d sysfs_mr=%d tsm=%d)\n", legacy_extend, sysfs_mr, tsm);
	return 0;
deregister:
	misc_deregister(&mock_dev);
free_hash:
	crypto_free_shash(sha384);
	return ret;
}

static void __exit mock_exit(void)
{
	if (tsm_registered)
		tsm_unregister(&mock_tsm_ops);
	misc_deregister(&mock_dev);
	crypto_free_shash(sha384);
}

module_init(mock_init);
module_exit(mock_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Mock TDX guest interface for tests (not for production)");
