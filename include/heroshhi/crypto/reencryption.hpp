// heroshhi — ReencryptionPass: after a key rotation, moves existing ciphertexts to the primary key,
// in batches, resumably, without overwriting concurrent writes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <heroshhi/core/ids.hpp>
#include <heroshhi/core/result.hpp>
#include <heroshhi/crypto/field_cipher.hpp>

namespace heroshhi::crypto {

/// One stored encrypted value, as a store hands it to the pass.
struct EncryptedField {
    TenantId tenant;
    std::string table;
    std::string column;
    std::string row_id;
    Bytes ciphertext;
    /// The store's position of this field in its scan order (e.g. "contacts/phone/acme/c-17");
    /// the pass hands the last one back to continue after it.
    std::string cursor;
};

/// The port a store implements so its encrypted columns can be re-encrypted. Implementations
/// state their own thread-safety; the pass calls them from one thread. Errors are the store's
/// (e.g. StorageErrc) and stop the batch; the pass can be resumed from its cursor.
class EncryptedFieldSource {
public:
    virtual ~EncryptedFieldSource() = default;

    /// Up to `limit` encrypted fields strictly after `cursor` ("" = from the start), in a stable
    /// order; fewer than `limit` (possibly none) only at the end. A store may skip fields whose
    /// header already names `primary` (FieldCipher::key_id), or return them; the pass skips them.
    virtual Result<std::vector<EncryptedField>> next_batch(std::string_view cursor, std::size_t limit, KeyId primary) = 0;

    /// Stores `replacement` for `field` only if the stored ciphertext still equals
    /// `field.ciphertext` (compare-and-swap). Returns false when it changed meanwhile (a concurrent
    /// write, which is under the primary key already) or the row is gone.
    virtual Result<bool> replace(const EncryptedField& field, const Bytes& replacement) = 0;
};

/// What one batch did.
struct ReencryptionBatch {
    std::size_t examined = 0;   ///< fields the source returned
    std::size_t rewritten = 0;  ///< moved to the primary key
    std::size_t current = 0;    ///< already under the primary key
    std::size_t changed = 0;    ///< replaced concurrently (or deleted) before the pass could write
    /// Fields that could not be decrypted (unknown_key, authentication_failed, ...): they are left
    /// as they are and reported, and the pass goes on. An unknown_key here means a key was removed
    /// from the ring too early.
    struct Failure {
        std::string cursor;
        Error error;
    };
    std::vector<Failure> failures;
    bool finished = false;  ///< the source has nothing after the new cursor
};

/// Walks an EncryptedFieldSource and re-encrypts every field that is not under the ring's
/// primary key. Resumable: persist cursor() after each batch and pass it to a new pass to go on
/// after a restart. Idempotent: fields already current are skipped, so running it again is safe.
/// Not thread-safe (one pass, one thread); the cipher and source must outlive it.
class ReencryptionPass {
public:
    ReencryptionPass(const FieldCipher& cipher, EncryptedFieldSource& source, std::string cursor = {})
        : cipher_(&cipher), source_(&source), cursor_(std::move(cursor)) {}

    /// Processes up to `batch_size` fields (at least 1). A source error is returned as it is and
    /// the cursor does not move past fields not yet handled.
    Result<ReencryptionBatch> run_batch(std::size_t batch_size = 500);

    /// Where the next batch starts; "" before the first.
    const std::string& cursor() const noexcept { return cursor_; }
    bool finished() const noexcept { return finished_; }

private:
    const FieldCipher* cipher_;
    EncryptedFieldSource* source_;
    std::string cursor_;
    bool finished_ = false;
};

}  // namespace heroshhi::crypto
