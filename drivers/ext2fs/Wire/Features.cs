namespace Rump.Fs.Ext2fs.Wire;

/// <summary>
/// Feature flags of the superblock (ext4 "Superblock" documentation). compat features may be
/// ignored by any implementation; incompat ones must be understood to mount at all; ro_compat
/// ones must be understood to write.
/// </summary>
internal static class Features
{
    // compat
    public const uint CompatDirPrealloc = 0x1, CompatImagicInodes = 0x2, CompatHasJournal = 0x4, CompatExtAttr = 0x8,
        CompatResizeInode = 0x10, CompatDirIndex = 0x20, CompatLazyBg = 0x40, CompatExcludeBitmap = 0x100,
        CompatSparseSuper2 = 0x200, CompatFastCommit = 0x400, CompatStableInodes = 0x800, CompatOrphanFile = 0x1000;

    // incompat
    public const uint IncompatCompression = 0x1, IncompatFiletype = 0x2, IncompatRecover = 0x4, IncompatJournalDev = 0x8,
        IncompatMetaBg = 0x10, IncompatExtents = 0x40, Incompat64bit = 0x80, IncompatMmp = 0x100, IncompatFlexBg = 0x200,
        IncompatEaInode = 0x400, IncompatDirData = 0x1000, IncompatCsumSeed = 0x2000, IncompatLargeDir = 0x4000,
        IncompatInlineData = 0x8000, IncompatEncrypt = 0x10000, IncompatCasefold = 0x20000;

    // ro_compat
    public const uint RoSparseSuper = 0x1, RoLargeFile = 0x2, RoBtreeDir = 0x4, RoHugeFile = 0x8, RoGdtCsum = 0x10,
        RoDirNlink = 0x20, RoExtraIsize = 0x40, RoHasSnapshot = 0x80, RoQuota = 0x100, RoBigalloc = 0x200,
        RoMetadataCsum = 0x400, RoReplica = 0x800, RoReadonly = 0x1000, RoProject = 0x2000, RoSharedBlocks = 0x4000,
        RoVerity = 0x8000, RoOrphanPresent = 0x10000;

    /// <summary>
    /// incompat features this driver reads. Not here, so no mount at all (EINVAL): compression,
    /// needs_recovery (a journal to replay first), journal_dev, dirdata, inline_data, encrypt, casefold.
    /// ea_inode and mmp only concern extended attributes and multi-host locking, which a reader can ignore.
    /// </summary>
    public const uint IncompatRead = IncompatFiletype | IncompatMetaBg | IncompatExtents | Incompat64bit | IncompatMmp
        | IncompatFlexBg | IncompatEaInode | IncompatCsumSeed | IncompatLargeDir;

    /// <summary>
    /// THE READ-WRITE RULE. A read-write mount is allowed only for plain ext2: every incompat,
    /// ro_compat and compat bit set must be in these masks, else the mount fails with EROFS.
    /// incompat: only filetype (so extents, 64bit, flex_bg, meta_bg, mmp, csum_seed, largedir... are
    /// read-only). ro_compat: sparse_super, large_file, btree_dir (unused by anyone) — so huge_file,
    /// gdt_csum (uninit_bg), dir_nlink, extra_isize, quota, bigalloc, metadata_csum, project, verity
    /// are read-only. compat: dir_prealloc, imagic_inodes, ext_attr (we only drop xattr-block
    /// references when freeing an inode), resize_inode (its reserved blocks are already allocated),
    /// dir_index (we clear an indexed directory's index flag when we change it, as pre-htree kernels
    /// did) — so has_journal, lazy_bg, exclude_bitmap, sparse_super2, fast_commit, stable_inodes,
    /// orphan_file are read-only.
    /// </summary>
    public const uint IncompatWrite = IncompatFiletype;
    public const uint RoCompatWrite = RoSparseSuper | RoLargeFile | RoBtreeDir;
    public const uint CompatWrite = CompatDirPrealloc | CompatImagicInodes | CompatExtAttr | CompatResizeInode | CompatDirIndex;
}
