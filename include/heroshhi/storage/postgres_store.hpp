// heroshhi — PostgresStore: every storage port over one PostgreSQL database, the shared store of
// several gateway instances. (Built when HEROSHHI_WITH_POSTGRES is ON; needs libpq.)
#pragma once

#include <chrono>
#include <cstddef>
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

struct PostgresOptions {
    /// Connections kept open at most; concurrent calls beyond that wait for a free one.
    std::size_t pool_size = 4;
    /// How long opening a connection may take (rounded up to whole seconds).
    std::chrono::milliseconds connect_timeout{5000};
    /// A statement running longer than this is cancelled and its call fails with `unavailable`
    /// (0: no limit).
    std::chrono::milliseconds statement_timeout{30000};

    /// Field encryption, exactly as SqliteOptions::keys and blind_index: give both, or neither
    /// (invalid_argument). With them, contacts' phone numbers, names and emails, message bodies,
    /// and the phone numbers of opt-out events, consent records and inbound activity are stored
    /// as crypto::FieldCipher ciphertexts under the ring's primary key, each bound to its tenant,
    /// table, column and row; phone numbers are found through `blind_index` tags, so no number is
    /// stored in clear, not even as a key. Both must outlive the store; the ring may rotate while
    /// the store is open.
    ///
    /// The mode belongs to the database and is fixed by the first store that opens it: opened with
    /// keys it is encrypted, without them it is not. An encrypted database opened without keys,
    /// with a ring that lacks the key it was written with, or with another blind-index key fails
    /// with key_unavailable; a plaintext one opened with keys fails with not_encrypted. Neither is
    /// modified.
    const crypto::KeyRing* keys = nullptr;
    const crypto::BlindIndex* blind_index = nullptr;
};

/// A pool of libpq connections to one database. Every statement is a constant with parameters
/// (prepared once per connection); every write of more than one row runs in one transaction.
/// The tables live in the schema `heroshhi` of the database (created at first open), so a host's
/// own tables of the same names are never touched; the schema is versioned (table
/// heroshhi.schema_version) and migrated forward at open, in one transaction under an advisory
/// lock, so that instances starting together do not race. Tenant id leads every key and index.
///
/// Several stores (in several processes) may share the database: opt-out sequences increase per
/// tenant in commit order, provider message ids and webhook keys are recorded once across all of
/// them, and each opt-out append notifies channel `heroshhi_optout` (payload: the tenant id) in
/// its transaction, so other instances learn of it (LISTEN).
///
/// Durability is PostgreSQL's: a write returns once committed. Connection loss: the call in
/// flight fails with `unavailable` and a message naming the server (a multi-row write is rolled
/// back by the server: nothing of it is stored); the broken connection is dropped, and the next
/// call opens a new one.
///
/// Thread-safe. Every method blocks on network I/O.
class PostgresStore final : public StoreSet {
public:
    /// The newest schema version this build writes and reads.
    static constexpr int schema_version = 1;

    /// Connects to `conninfo` (a libpq URI "postgresql://user@host:port/db" or "key=value"
    /// string), creates or migrates the schema to `schema_version` and settles field encryption.
    /// Fails with unavailable if the server cannot be reached, newer_schema if the database was
    /// migrated by a newer heroshhi, not_a_database if its schema `heroshhi` belongs to something
    /// else; in each case nothing is modified.
    static Result<std::unique_ptr<PostgresStore>> open(const std::string& conninfo, PostgresOptions options = {});

    /// Whether the database's sensitive columns are encrypted (see PostgresOptions::keys).
    bool encrypted() const noexcept;

    /// The store's encrypted columns as a crypto::EncryptedFieldSource, for a ReencryptionPass
    /// after a key rotation (also the database's key check value, so an old key can be removed
    /// once a pass has finished). Scans table by table in key order, in batches; replace() is a
    /// compare-and-swap. A plaintext store has no fields to hand out. Thread-safe like the store;
    /// valid as long as the store.
    crypto::EncryptedFieldSource& encrypted_fields();

    ~PostgresStore() override;
    PostgresStore(const PostgresStore&) = delete;
    PostgresStore& operator=(const PostgresStore&) = delete;

    ContactStore& contacts() override;
    MessageStore& messages() override;
    OptOutStore& optouts() override;
    ConsentStore& consents() override;
    ActivityStore& activity() override;
    DedupStore& dedup() override;
    AuditStore& audit() override;
    RequestStore& requests() override;
    /// PostgreSQL's VACUUM reclaims deleted rows on its own schedule; the store keeps no residue
    /// of its own (no log or cache files): nothing to do.
    Result<void> scrub() override { return {}; }

    /// The retention ports over the same database: accounts, sweep journal, analytics aggregates
    /// and the targets over contacts, messages, consent records, inbound activity and webhook keys.
    retention::RetentionStores& retention() noexcept;

    class Impl;

private:
    explicit PostgresStore(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
    std::unique_ptr<retention::RetentionStores> retention_;  // uses impl_'s pool: declared after it
};

}  // namespace heroshhi::storage
