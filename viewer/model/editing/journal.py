"""Atomic in-place saves through a rollback journal, and recovery after a crash.

A save changes a few byte ranges of a file that may be many gigabytes. It
cannot rewrite the file (too slow, needs the space twice), so it writes in
place, and a rollback journal makes that atomic: after a crash at any moment
the file holds either all the old bytes or all the new ones.

Save (:func:`journaled_write`)
------------------------------
1. The caller supplies the final bytes of every changed range as
   :class:`RegionBatch` es, computed a batch at a time so memory stays bounded.
2. The original bytes of those ranges are streamed into a journal next to the
   file, ``<dir>/.<name>.cinemap-journal`` (created ``O_EXCL``, mode 0600:
   it holds original pixels), then the journal and the directory are fsynced.
   The saver holds an ``flock`` on the journal while it works, so that
   :func:`recover` in another process never touches a live save.
3. The new bytes are written in place with positional writes, then flushed.
4. The journal's commit magic is zeroed and the journal fsynced: this is the
   commit point (a journal without its commit magic is never replayed, so a
   crash after this keeps the new bytes). Then the journal is deleted and the
   directory fsynced.

Any ``OSError`` becomes a :class:`SaveError` naming the step, and the file is
left unchanged: before step 3 by deleting the journal, from step 3 on by
restoring the journal's bytes at once. If even that restore fails the journal
is kept, and the next open restores the file. A failed ``fsync`` is never
retried: after one, the kernel may have dropped the dirty pages, so the state
of the file is unknown and the journal is replayed instead.

Recovery (:func:`recover`, called by every open)
------------------------------------------------
No journal: nothing to do. A journal without a valid trailer was cut short
before any in-place write: it is deleted and the file is untouched. A complete
journal whose identity (st_ino, st_size, on the journal's own device) matches the file is verified
(every record's crc first: a damaged journal is refused and nothing is
written), replayed, fsynced and deleted. A mismatching identity is refused
and the journal left in place. A complete journal whose commit magic is
zeroed belongs to a save that finished (or to a recovery that did) and only
its deletion was missed: it is deleted and the file keeps its contents.

Platforms (:mod:`viewer.model.platform`)
-------------------------------------------
"Flushed" above means :func:`viewer.model.platform.durable.flush_file`:
``fsync`` on Linux and Windows (``FlushFileBuffers``), ``F_FULLFSYNC`` on macOS,
whose ``fsync`` leaves the data in the drive's volatile cache. The folder is
flushed after the journal is created and after it is deleted on Linux and
macOS; Windows cannot open or flush a folder, and relies on NTFS logging the
creation of the journal's entry in its metadata journal, which the flush of
the journal itself commits.

The journal's lock is :func:`viewer.model.platform.locking.acquire`: ``flock``
on POSIX, ``LockFileEx`` on Windows, and where neither works (some network
shares, portable mode) the exclusively created file
``<dir>/.<name>.cinemap-journal-lock``, removed when the save or the recovery
ends (or, if its holder died, by the next one).

The journal file itself -- where it lies, its format, and the order of
closing and deleting it on each platform -- is described in
:mod:`viewer.model.editing.journal_file`.
"""

from __future__ import annotations

import errno
import os
import zlib
from dataclasses import dataclass
from typing import Callable, Iterable, NoReturn

from viewer.model.editing.journal_file import (
    COMMIT_MAGIC,
    LOCK_SUFFIX,
    TRAILER,
    FileIdentity,
    OpenJournal,
    RegionBatch,
    Writer,
    encode_header,
    encode_records,
    is_same_file,
    journal_lock_path_for,
    journal_path_for,
    pread_exact,
    pread_into,
    pread_up_to,
    pwrite_all,
    read_journal,
    remove_journal,
    replay,
    slice_batch,
    verify,
)
from viewer.model.errors import DicomError, SaveError
from viewer.model.platform import OPEN_FLAGS, durable, locking, positional, process

__all__ = [
    "SAVE_STEPS",
    "FileIdentity",
    "RecoveryReport",
    "RegionBatch",
    "SaveStats",
    "journal_lock_path_for",
    "journal_path_for",
    "journaled_write",
    "pread_exact",
    "pread_into",
    "pwrite_all",
    "recover",
]

SAVE_STEPS = (
    "journal-created",  # header written, no records yet (nothing fsynced)
    "journal-records",  # some records written (half of the first batch's), no trailer
    "journal-written",  # journal complete and fsynced; file untouched
    "mid-write",  # about half the in-place writes done
    "before-delete",  # in-place writes fsynced; journal still valid
    "journal-invalidated",  # commit point passed; journal file still present
    "journal-deleted",  # journal removed, directory fsynced
)
#: Steps after which a crash leaves the new bytes (before them: the old ones).
COMMITTED_STEPS = ("journal-invalidated", "journal-deleted")

_UNCHANGED = "the file is unchanged and your edits are still pending"
_RESTORED = "the original bytes were restored from the journal: the file is unchanged and your edits are still pending"


@dataclass(frozen=True)
class SaveStats:
    """What a save wrote: ranges, bytes written in place, and the journal's size."""

    regions: int
    bytes_written: int
    journal_bytes: int


@dataclass(frozen=True)
class RecoveryReport:
    """What :func:`recover` did, for the UI to show.

    Attributes
    ----------
    action : str
        ``"restored"`` (an interrupted save was rolled back), ``"discarded"``
        (it had not changed the file yet; only the journal was removed) or
        ``"in-progress"`` (another process is saving right now; nothing touched).
    message : str
        One or two sentences for the user.
    """

    path: str
    journal_path: str
    action: str
    regions: int
    bytes_restored: int
    message: str


# ---------------------------------------------------------------------- save
def journaled_write(
    path: str,
    fd: int,
    batches: Callable[[str], Iterable[RegionBatch]],
    *,
    step_hook: Callable[[str], None] | None = None,
) -> SaveStats:
    """Write the final bytes of `batches` into the file atomically.

    Parameters
    ----------
    path : str
        The file (names the journal and the messages).
    fd : int
        Descriptor open for writing on `path`.
    batches : callable
        ``batches("original")`` yields :class:`RegionBatch` es of the changed
        ranges with their current bytes (journal pass); ``batches("final")``
        yields the ranges to write with their new bytes (write pass). Final
        ranges may be wider than the original ones (to write fewer, larger
        pieces), but only over bytes the save leaves as they are: a torn
        write there changes nothing, so the journal need not hold them.
    step_hook : callable, optional
        For tests: called with each name in :data:`SAVE_STEPS` as it is reached;
        an exception it raises is handled like a failure at that point.

    Raises
    ------
    SaveError
        If anything failed; the file is unchanged or, if the message says so,
        will be restored from the kept journal at the next open.
    """
    hook = step_hook or (lambda step: None)
    journal_path = journal_path_for(path)
    journal = _create_journal(path, journal_path)
    try:
        count, total = _write_journal(path, fd, journal, batches, hook)
        _write_in_place(path, fd, journal, batches, total, hook)
        _commit(path, fd, journal, hook)
        journal_bytes = os.fstat(journal.fd).st_size
    finally:
        journal.close()
    durable.flush_directory(journal_path, ignore_errors=True)
    hook("journal-deleted")
    return SaveStats(regions=count, bytes_written=total, journal_bytes=journal_bytes)


def _create_journal(path: str, journal_path: str) -> OpenJournal:
    for _attempt in range(3):
        try:
            journal_fd = os.open(journal_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | OPEN_FLAGS, 0o600)
        except FileExistsError:
            if _remove_incomplete_journal(journal_path):
                continue
            raise SaveError(
                path,
                f"the journal of an earlier, unfinished save exists ({journal_path}); close and reopen the "
                f"file so that it can be restored; {_UNCHANGED}",
            ) from None
        except OSError as exc:
            raise _save_error(path, exc, "creating the journal", _UNCHANGED) from exc
        process.hide_file(journal_path)
        # recover() in another process may have grabbed the new, empty journal and
        # deleted it before we locked it: then start again with a fresh one.
        try:
            held = locking.acquire(journal_fd, journal_path + LOCK_SUFFIX, describe=False, blocking=True)
        except (locking.Busy, OSError) as exc:
            os.close(journal_fd)
            remove_journal(journal_path)
            reason = "another process holds its lock" if isinstance(exc, locking.Busy) else exc.strerror
            raise SaveError(path, f"could not lock the journal {journal_path} ({reason}); {_UNCHANGED}") from None
        if is_same_file(journal_fd, journal_path):
            return OpenJournal(journal_fd, journal_path, held)
        held.release()
        os.close(journal_fd)
    raise SaveError(path, f"could not create the journal {journal_path}: another process keeps removing it; {_UNCHANGED}")


def _write_journal(path: str, fd: int, journal: OpenJournal, batches: Callable[[str], Iterable[RegionBatch]],
                   hook: Callable[[str], None]) -> tuple[int, int]:
    """Step 2: stream the original bytes into the journal and make it durable."""
    stage = "writing the journal"
    journal_fd = journal.fd
    try:
        identity = FileIdentity.of_fd(fd)
        writer = Writer(journal_fd)
        writer.write(encode_header(identity, os.path.basename(path)))
        hook("journal-created")
        count = total = records_crc = 0
        halfway = None
        for batch in batches("original"):
            if halfway is None:  # in the first batch, so that even one-batch saves stop midway
                halfway = max(1, batch.offsets.size // 2)
                parts = [slice_batch(batch, 0, halfway), slice_batch(batch, halfway, batch.offsets.size)]
            else:
                parts = [batch]
            for part in parts:
                records, headers = encode_records(part)
                writer.write(records)
                records_crc = zlib.crc32(headers, records_crc)
                count += part.offsets.size
                total += part.data.size
                if count == halfway and part is parts[0]:
                    writer.flush()
                    hook("journal-records")
        writer.write(TRAILER.pack(count, total, records_crc, COMMIT_MAGIC))
        writer.flush()
        stage = "flushing the journal to disk"
        durable.flush_file(journal_fd)
        durable.flush_directory(journal.path)
        hook("journal-written")
    except BaseException as exc:
        journal.delete()
        if isinstance(exc, Exception):
            raise _save_error(path, exc, stage, _UNCHANGED) from exc
        raise
    return count, total


def _write_in_place(path: str, fd: int, journal: OpenJournal, batches: Callable[[str], Iterable[RegionBatch]],
                    total: int, hook: Callable[[str], None]) -> None:
    """Step 3: write the new bytes over the file; on any failure, restore from the journal."""
    stage = "writing the file"
    try:
        written = 0
        halfway = max(1, total // 2)
        for batch in batches("final"):
            for offset, final in batch.ranges():
                positional.pwrite_all(fd, final, offset)
                if written < halfway <= written + len(final):
                    hook("mid-write")
                written += len(final)
        stage = "flushing the file to disk"
        durable.flush_file(fd)
    except BaseException as exc:
        _raise_rolled_back(path, fd, journal, exc, stage)


def _commit(path: str, fd: int, journal: OpenJournal, hook: Callable[[str], None]) -> None:
    """Step 4: zero the commit magic (the commit point), then delete the journal."""
    try:
        hook("before-delete")
        size = os.fstat(journal.fd).st_size
        positional.pwrite_all(journal.fd, bytes(len(COMMIT_MAGIC)), size - len(COMMIT_MAGIC))
        durable.flush_file(journal.fd)
    except BaseException as exc:
        _raise_rolled_back(path, fd, journal, exc, "finishing the save")
    hook("journal-invalidated")
    # The journal can no longer be replayed: failing to delete it is harmless.
    if durable.REMOVES_OPEN_FILES:
        try:
            os.unlink(journal.path)
        except OSError:
            pass
    else:
        journal.delete()


def _raise_rolled_back(path: str, fd: int, journal: OpenJournal, exc: BaseException, stage: str) -> NoReturn:
    """Restore the original bytes after `exc` at `stage`, then raise the matching SaveError."""
    journal_path = journal.path
    try:
        parsed = read_journal(journal.fd, journal_path, path, require_commit=False)
        if parsed is None:
            raise DicomError(path, "the journal is cut short")
        verify(parsed, journal.fd, path, FileIdentity.of_fd(fd).size)
        replay(parsed, journal.fd, fd)
        durable.flush_file(fd)  # a new flush of newly written pages, not a retry of the failed one
        journal.invalidate_before_delete()
    except (OSError, EOFError, DicomError) as restore_exc:
        reason = getattr(restore_exc, "strerror", None) or str(restore_exc)
        outcome = (
            f"restoring the original bytes also failed ({reason}); the journal {journal_path} was kept "
            "and the file will be restored the next time it is opened; your edits are still pending"
        )
    else:
        journal.delete()
        outcome = _RESTORED
    if not isinstance(exc, Exception):  # KeyboardInterrupt, SystemExit: after the rollback
        raise exc
    raise _save_error(path, exc, stage, outcome) from exc


def _save_error(path: str, exc: Exception, stage: str, outcome: str) -> SaveError:
    """A SaveError saying what failed (``strerror`` for OSErrors), where, and what it left."""
    reason = getattr(exc, "strerror", None)
    reason = f"{reason[:1].lower()}{reason[1:]}" if reason else repr(exc)
    return SaveError(path, f"{reason} while {stage}; {outcome}")


# ------------------------------------------------------------------ recovery
def recover(path: str | os.PathLike[str]) -> RecoveryReport | None:
    """Finish or undo an interrupted save of `path`; call before reading the file.

    Returns
    -------
    RecoveryReport or None
        None if there was no journal.

    Raises
    ------
    DicomError
        If the journal belongs to another file, is damaged, cannot be read,
        or the file cannot be written to restore it. Nothing is changed then.
    """
    path = os.path.abspath(os.fspath(path))
    journal_path = journal_path_for(path)
    for _attempt in range(3):
        journal = _open_locked(path, journal_path)
        if isinstance(journal, RecoveryReport) or journal is None:
            return journal
        try:
            if is_same_file(journal.fd, journal_path):
                return _recover_locked(path, journal)
        finally:
            journal.close()
    return None


def _open_locked(path: str, journal_path: str) -> OpenJournal | RecoveryReport | None:
    """The journal opened and locked; a report if another process is saving; None if there is none."""
    flags = os.O_RDONLY if durable.REMOVES_OPEN_FILES else os.O_RDWR  # RDWR: to invalidate before closing
    try:
        journal_fd = _open_journal(journal_path, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DicomError(path, f"the journal of an interrupted save, {journal_path}, cannot be read: {exc.strerror}") from exc
    try:
        held = locking.acquire(journal_fd, journal_path + LOCK_SUFFIX, describe=False)
    except locking.Busy:
        os.close(journal_fd)
        return RecoveryReport(path, journal_path, "in-progress", 0, 0,
                              "Another process is saving this file right now; it was not touched.")
    except OSError as exc:
        os.close(journal_fd)
        raise DicomError(path, f"a save of this file was interrupted and must be undone from the journal {journal_path}, "
                               f"but the journal cannot be locked ({exc.strerror}); open it once as a user who can "
                               "write to it and its folder (and on a writable mount) to restore it") from exc
    return OpenJournal(journal_fd, journal_path, held)


def _open_journal(journal_path: str, flags: int) -> int:
    try:
        return os.open(journal_path, flags | OPEN_FLAGS)
    except OSError as exc:
        if flags == os.O_RDONLY or exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        return os.open(journal_path, os.O_RDONLY | OPEN_FLAGS)  # still readable: report why later


def _recover_locked(path: str, opened: OpenJournal) -> RecoveryReport:
    name = os.path.basename(path)
    journal_path, journal_fd = opened.path, opened.fd
    journal = read_journal(journal_fd, journal_path, path, require_commit=True)
    if journal is None:
        finished = _was_committed(journal_fd, journal_path, path)
        opened.delete()
        if finished:
            return RecoveryReport(path, journal_path, "discarded", 0, 0,
                                  f"A save of {name} had finished but left its journal behind; the journal was "
                                  "removed and the file keeps the saved contents.")
        return RecoveryReport(path, journal_path, "discarded", 0, 0,
                              f"A save of {name} was interrupted before it changed the file: the file is as it was, "
                              "and the edits that save was writing are gone.")
    try:
        status = os.stat(path)
    except OSError as exc:
        raise DicomError(path, f"cannot check the file against the journal {journal_path}: {exc.strerror}") from exc
    # The recorded device number may change across a reboot (device mapper,
    # USB, NFS): the journal lies in the file's own folder, so its current
    # device must equal the file's, and inode and size must match the record.
    same_device = os.fstat(journal_fd).st_dev == status.st_dev
    if not same_device or (status.st_ino, status.st_size) != journal.identity[1:]:
        raise DicomError(path, f"the journal {journal_path} of an interrupted save belongs to a different file "
                               "(device, inode or size differ); nothing was restored and the journal was left in place")
    verify(journal, journal_fd, path, status.st_size)
    try:
        file_fd = os.open(path, os.O_RDWR | OPEN_FLAGS)
    except OSError as exc:
        raise DicomError(path, f"a save of this file was interrupted and must be undone from the journal {journal_path}, "
                               f"but the file cannot be opened for writing ({exc.strerror}); open it once as a user "
                               "who can write to it (and on a writable mount) to restore it") from exc
    try:
        replay(journal, journal_fd, file_fd)
        durable.flush_file(file_fd)
    except OSError as exc:
        raise DicomError(path, f"restoring from the journal {journal_path} failed ({exc.strerror}); "
                               "the journal was kept and will be tried again at the next open") from exc
    finally:
        positional.forget(file_fd)
        os.close(file_fd)
    try:
        opened.invalidate_before_delete()
    except OSError:
        pass  # the file is restored; replaying the journal again later restores the same bytes
    opened.delete()
    return RecoveryReport(
        path, journal_path, "restored", journal.count, journal.total,
        f"A save of {name} was interrupted, so the file was put back exactly as it was before that save: "
        f"the edits that save was writing are gone. ({journal.count:,} changed range(s), {journal.total:,} bytes.)",
    )


def _was_committed(journal_fd: int, journal_path: str, path: str) -> bool:
    """True if the journal is complete but its commit magic is zeroed: its save (or recovery) finished."""
    try:
        journal = read_journal(journal_fd, journal_path, path, require_commit=False)
        return journal is not None and pread_up_to(journal_fd, len(COMMIT_MAGIC), journal.records_end + 20) == bytes(8)
    except (DicomError, OSError):
        return False


def _remove_incomplete_journal(journal_path: str) -> bool:
    """Delete a left-over journal that can never be replayed; True if it is gone."""
    try:
        journal = _open_locked(journal_path, journal_path)
    except DicomError:
        return False
    if journal is None:
        return True
    if isinstance(journal, RecoveryReport):
        return False  # another process is saving
    try:
        if not is_same_file(journal.fd, journal_path):
            return True
        if read_journal(journal.fd, journal_path, journal_path, require_commit=True) is not None:
            return False
        journal.delete()
    except (OSError, DicomError):
        return False
    finally:
        journal.close()
    return not os.path.lexists(journal_path)
