// heroshhi — the audit hash chain: canonical encoding, chain hash, head and purge checkpoint.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <heroshhi/audit/entry.hpp>
#include <heroshhi/core/clock.hpp>

namespace heroshhi::audit {

/// The canonical encoding of an entry, version 1 (what the hash covers besides the previous hash):
///
///   u64be(sequence) ‖ i64be(at, Unix milliseconds, two's complement)
///   ‖ for each of: tenant, actor user id ("" for the system), actor role ("owner", "admin",
///     "manager", "sales", or "system"), action, target type, target id, outcome (the Reason's
///     name, "allowed" or e.g. "not_authorized"), rule, request id, policy revision:
///     u32be(byte length) ‖ bytes
///
/// Every field has a fixed place and a length prefix, so two different entries never encode alike.
std::string canonical_encoding(const Entry& entry);
/// The same encoding of a stored entry's view: its role and outcome are encoded as the stored text.
std::string canonical_encoding(const EntryView& entry);

/// The version prefix hashed before everything else (18 bytes, no terminating NUL).
inline constexpr char chain_domain[] = "heroshhi.audit.v1\n";

/// SHA-256(chain_domain ‖ previous ‖ canonical_encoding(entry)). `previous` is the hash of the
/// tenant's previous entry, 32 zero bytes for its first entry, or the purge checkpoint's hash for
/// the first entry after a purge. Thread-safe; OpenSSL underneath.
Hash chain_hash(const Hash& previous, const Entry& entry);
/// The same hash over a stored entry's view (what verification recomputes); equal to
/// chain_hash(previous, entry) for a view of `entry`.
Hash chain_hash(const Hash& previous, const EntryView& entry);

/// Lower-case hexadecimal, 64 characters.
std::string to_hex(const Hash& hash);
/// The inverse of to_hex (either case); nullopt for anything else.
std::optional<Hash> hash_from_hex(std::string_view hex);

/// The end of a tenant's chain: its last entry's sequence and hash ({0, zeros} when empty). A host
/// that keeps (or publishes) a head it has seen can later prove that the chain still contains it.
struct ChainHead {
    std::int64_t sequence = 0;
    Hash hash{};
    friend bool operator==(const ChainHead&, const ChainHead&) = default;
};

/// What a retention purge left behind: the last purged entry's sequence, hash and time, and how
/// many entries have been purged in all. The first remaining entry links to `hash`.
struct Checkpoint {
    std::int64_t sequence = 0;
    Hash hash{};
    Timestamp at{};
    std::int64_t purged = 0;
    friend bool operator==(const Checkpoint&, const Checkpoint&) = default;
};

/// A tenant's chain as stored: its head and, once something was purged, the checkpoint.
struct ChainState {
    ChainHead head;
    std::optional<Checkpoint> checkpoint;
};

}  // namespace heroshhi::audit
