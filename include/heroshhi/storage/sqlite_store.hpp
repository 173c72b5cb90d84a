// heroshhi — SqliteStore: every storage port over one SQLite file, the embedded default.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <heroshhi/core/result.hpp>
#include <heroshhi/crypto/reencryption.hpp>
#include <heroshhi/retention/stores.hpp>
#include <heroshhi/storage/store_set.hpp>

namespace heroshhi::crypto {
class BlindIndex;
}  // namespace heroshhi::crypto

namespace heroshhi::storage {

struct SqliteOptions {
    /// How long a write waits for another connection's lock before failing with `unavailable`.
    std::chrono::milliseconds busy_timeout{5000};
    /// Open read-only: every write fails with `read_only`.
    bool read_only = false;

    /// Field encryption: give both, or neither (invalid_argument). With them, contacts' phone
    /// numbers, names and emails, message bodies, and the phone numbers of opt-out events,
    /// consent records and inbound activity are stored as crypto::FieldCipher ciphertexts under
    /// the ring's primary key, each bound to its tenant, table, column and row; phone numbers are
    /// found through `blind_index` tags, so no number is stored in clear, not even as a key.
    /// Both must outlive the store; the ring may rotate while the store is open.
    ///
    /// The mode belongs to the file and is fixed when it is created: a new file opened with keys
    /// is encrypted, one opened without them is not (a file from before schema version 3 that
    /// holds no contacts, opt-outs, consents or activity is treated as new). An encrypted file
    /// opened without keys, with a ring that lacks the key it was written with, or with another
    /// blind-index key fails with key_unavailable; a plaintext file opened with keys fails with
    /// not_encrypted. Neither is modified. There is no in-place conversion: copy the rows into a
    /// new file opened with keys.
    const crypto::KeyRing* keys = nullptr;
    const crypto::BlindIndex* blind_index = nullptr;
};

/// One SQLite file in WAL mode with foreign keys on. Statements are prepared once and bound
/// (no SQL is ever assembled from values); multi-row writes run in one transaction. The schema is
/// versioned (PRAGMA user_version) and migrated forward at open.
///
/// Durability: a write returns only once its transaction is on disk (WAL, synchronous FULL: one
/// fsync per commit). Writes that arrive while a commit is in flight share the next one (group
/// commit): concurrent writers each wait about one sync instead of queueing one sync each. Each
/// write runs in its own savepoint, so one that fails is rolled back alone and its caller gets its
/// own result; if the shared transaction fails as a whole, every write in it fails and none is
/// stored. Contacts, messages, opt-out events, consent, inbound activity and de-duplication keys
/// share commits; deletes, audit appends (audit::Log groups those itself) and re-encryption
/// replacements commit on their own.
///
/// Asynchronous writes: activity().record_inbound_async always takes the write and returns at
/// once (the checks, blind index and encryption run on the caller's thread). The write joins the
/// same queue and transactions as the blocking writes; nobody waits for it, so when it would have
/// to lead a group, a committer thread of the store's (started on the first such write) leads
/// instead. Its completion runs once the group's commit is on disk (or has failed), outside the
/// store's locks, in queue order, on the thread that led the group (the committer, or a blocking
/// writer that committed it with its own), before the next group starts. A failure known before
/// queueing (read-only store, empty tenant, key missing) is delivered before the call returns.
/// The destructor commits everything still queued and runs every completion before it returns.
/// The queue is not bounded: a caller that must bound its memory bounds the writes it has
/// outstanding.
///
/// Thread-safe: one connection behind a mutex. Every method blocks on disk I/O, except
/// record_inbound_async.
class SqliteStore final : public StoreSet {
public:
    /// The newest schema version this build writes and reads.
    static constexpr int schema_version = 5;

    /// Opens (creating if absent) the database at `path` and migrates it to `schema_version`
    /// (version 2 added the audit trail, version 3 field encryption and delivery statuses by
    /// provider id, version 4 retention: accounts, analytics aggregates and the sweep journal,
    /// version 5 erased opt-out events, the analytics objection and the register of data-subject
    /// requests; an older file gains them and keeps every row, in plaintext).
    /// Deleted values are overwritten with zeros in the file (SQLite's secure_delete), and
    /// scrub() also empties the write-ahead log.
    /// A file that is not a database, belongs to another application, or was written by a newer
    /// heroshhi fails with not_a_database / newer_schema and is not modified.
    static Result<std::unique_ptr<SqliteStore>> open(const std::string& path, SqliteOptions options = {});

    /// Whether the file's sensitive columns are encrypted (see SqliteOptions::keys).
    bool encrypted() const noexcept;

    /// The store's encrypted columns as a crypto::EncryptedFieldSource, for a ReencryptionPass
    /// after a key rotation (also the file's key check value, so an old key can be removed once a
    /// pass has finished). Scans table by table in row order, in batches, without holding the
    /// store's lock between them; replace() is a compare-and-swap. A plaintext store has no
    /// fields to hand out. Thread-safe like the store; valid as long as the store.
    crypto::EncryptedFieldSource& encrypted_fields();

    ~SqliteStore() override;
    SqliteStore(const SqliteStore&) = delete;
    SqliteStore& operator=(const SqliteStore&) = delete;

    ContactStore& contacts() override;
    MessageStore& messages() override;
    OptOutStore& optouts() override;
    ConsentStore& consents() override;
    ActivityStore& activity() override;
    DedupStore& dedup() override;
    AuditStore& audit() override;
    RequestStore& requests() override;
    /// Checkpoints the write-ahead log into the database and truncates it, so that no erased or
    /// overwritten value is left in the -wal file (the database file itself zeroes deleted content
    /// as it goes). Fails with `unavailable` if another connection's reader keeps the log busy
    /// beyond the busy timeout; a read-only store has nothing to scrub.
    Result<void> scrub() override;
    /// retention().accounts().
    AccountStore* accounts() noexcept override;

    /// The retention ports over the same file and connection: accounts, sweep journal, analytics
    /// aggregates and the targets over contacts, messages, consent records, inbound activity and
    /// webhook keys.
    retention::RetentionStores& retention() noexcept;

    class Impl;

private:
    explicit SqliteStore(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
    std::unique_ptr<retention::RetentionStores> retention_;  // uses impl_'s connection: declared after it
};

}  // namespace heroshhi::storage
