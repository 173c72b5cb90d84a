#include <heroshhi/audit/log.hpp>

#include "detail/chain_hasher.hpp"
#include "detail/hash_pipeline.hpp"

#include <heroshhi/audit/errors.hpp>
#include <heroshhi/storage/errors.hpp>

#include <nlohmann/json.hpp>

#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <new>
#include <ostream>
#include <unordered_map>

namespace heroshhi::audit {
namespace {

constexpr std::size_t max_field_bytes = 512;
constexpr std::size_t read_batch = 4096;
constexpr int max_attempts = 4;  // appends retried after another writer moved the head

/// "+1 415 555 0123" and the like: a phone number where an id belongs.
bool looks_like_phone(std::string_view s) noexcept {
    if (s.empty() || s.front() != '+') return false;
    std::size_t digits = 0;
    for (char c : s.substr(1)) {
        if (c >= '0' && c <= '9') ++digits;
        else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')') return false;
    }
    return digits >= 7;
}

Error invalid_entry(std::size_t index, std::string problem) {
    return Error(AuditErrc::invalid_entry, "entry " + std::to_string(index) + ": " + std::move(problem));
}

Result<void> validate(std::span<const Entry> entries) {
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const Entry& e = entries[i];
        if (e.tenant.empty()) return invalid_entry(i, "no tenant");
        if (e.tenant != entries.front().tenant) return invalid_entry(i, "one append takes the entries of one tenant");
        if (e.action.empty()) return invalid_entry(i, "no action");
        if (e.target_type.empty()) return invalid_entry(i, "no target type");
        for (std::string_view field : {std::string_view(e.tenant.value()), std::string_view(e.actor.user.value()),
                                       std::string_view(e.action), std::string_view(e.target_type),
                                       std::string_view(e.target_id), std::string_view(e.rule),
                                       std::string_view(e.request_id), std::string_view(e.policy_revision)})
            if (field.size() > max_field_bytes) return invalid_entry(i, "a field is longer than 512 bytes");
        if (e.actor.role.has_value() == e.actor.user.empty())
            return invalid_entry(i, "an actor is a user with a role, or the system with neither");
        if (looks_like_phone(e.target_id) || looks_like_phone(e.actor.user.value()))
            return invalid_entry(i, "a phone number where an id belongs; use a contact id or audit::phone_pseudonym");
    }
    return {};
}

template <class T, class Body>
Result<T> guarded(Body&& body) noexcept {
    try {
        return body();
    } catch (const std::exception& e) {
        try {
            return Error(storage::StorageErrc::unavailable, std::string("audit log: ") + e.what());
        } catch (...) {
            return Error(make_error_code(storage::StorageErrc::unavailable));
        }
    } catch (...) {
        return Error(make_error_code(storage::StorageErrc::unavailable));
    }
}

bool same(std::span<const std::uint8_t> stored, const Hash& hash) noexcept {
    return stored.size() == hash.size() && std::memcmp(stored.data(), hash.data(), hash.size()) == 0;
}

Hash copy_of(std::span<const std::uint8_t> stored) noexcept {
    Hash h{};
    if (stored.size() == h.size()) std::memcpy(h.data(), stored.data(), h.size());
    return h;
}

/// Walks a chain segment entry by entry: the checks verify() and purge_before() share.
class Walker {
public:
    explicit Walker(const ChainState& state) : head_(state.head) {
        if (state.checkpoint) {
            expected_ = state.checkpoint->sequence + 1;
            previous_ = state.checkpoint->hash;
        }
    }

    /// Checks the next stored entry; false (with problem() set) at the first broken one.
    bool step(const EntryView& e) {
        if (!linked(e)) return false;
        if (!same(e.hash, sha_.chain_hash(previous_, e))) return altered(checked_, e.sequence);
        accept(e);
        return true;
    }

    /// step() without the hash check, which the caller queues on a HashPipeline with the
    /// previous() read before the call; a mismatch found there is reported with altered().
    bool link(const EntryView& e) {
        if (!linked(e)) return false;
        accept(e);
        return true;
    }

    /// Entry `sequence` does not match its hash; `checked` entries before it were intact. Rewinds
    /// the walk to that entry (a pipelined walk has gone past it).
    bool altered(std::int64_t checked, std::int64_t sequence) {
        checked_ = checked;
        expected_ = sequence;
        return fail(Break::altered, sequence,
                    "entry " + std::to_string(sequence) + " was altered: its content does not match its hash");
    }

    /// After the last stored entry: does the chain end at its head?
    bool finish() {
        const std::int64_t last = expected_ - 1;
        if (last < head_.sequence)
            return fail(Break::truncated, expected_,
                        "the chain ends at entry " + std::to_string(last) + " but its head is entry " +
                            std::to_string(head_.sequence) + ": entries were cut off the end");
        if (previous_ != head_.hash)
            return fail(Break::head_mismatch, head_.sequence,
                        "entry " + std::to_string(head_.sequence) +
                            " is not the entry the head records: the last entry was replaced");
        return true;
    }

    bool fail(Break b, std::int64_t at, std::string detail) {
        problem_ = b;
        broken_at_ = at;
        detail_ = std::move(detail);
        return false;
    }

    /// Entries appended while a walk is under way lie past the head read at its start: the caller
    /// reads the head again and, if it moved, walks on to the new one.
    const ChainHead& head() const noexcept { return head_; }
    void move_head(const ChainHead& head) noexcept {
        if (head.sequence > head_.sequence) head_ = head;
    }

    std::int64_t next_sequence() const noexcept { return expected_; }
    const Hash& previous() const noexcept { return previous_; }
    std::int64_t checked() const noexcept { return checked_; }
    const std::optional<Break>& problem() const noexcept { return problem_; }
    std::int64_t broken_at() const noexcept { return broken_at_; }
    const std::string& detail() const noexcept { return detail_; }

private:
    /// The checks that need no hash: sequence, head and link to the previous entry.
    bool linked(const EntryView& e) {
        if (e.sequence < expected_)
            return fail(Break::out_of_order, e.sequence,
                        "entry " + std::to_string(e.sequence) + " came after entry " + std::to_string(expected_ - 1) +
                            ": the store returned entries out of order");
        if (e.sequence > expected_)
            return fail(Break::missing, expected_,
                        "entry " + std::to_string(expected_) + " is missing (the next stored entry is " +
                            std::to_string(e.sequence) + "): entries were deleted");
        if (e.sequence > head_.sequence)
            return fail(Break::beyond_head, e.sequence,
                        "entry " + std::to_string(e.sequence) + " lies past the recorded head (entry " +
                            std::to_string(head_.sequence) + "): it was not appended through the log");
        if (!same(e.prev_hash, previous_))
            return fail(Break::unlinked, e.sequence,
                        "entry " + std::to_string(e.sequence) + " does not link to " + link_target() +
                            ": an entry was replaced, inserted or reordered");
        return true;
    }

    void accept(const EntryView& e) noexcept {
        previous_ = copy_of(e.hash);
        ++expected_;
        ++checked_;
    }

    std::string link_target() const {
        if (expected_ == 1) return "the start of the chain";
        return "entry " + std::to_string(expected_ - 1);
    }

    ChainHead head_;
    std::int64_t expected_ = 1;
    Hash previous_{};
    std::int64_t checked_ = 0;
    std::optional<Break> problem_;
    std::int64_t broken_at_ = 0;
    std::string detail_;
    detail::Sha256 sha_;
};

}  // namespace

std::string_view to_string(Break b) noexcept {
    switch (b) {
        case Break::altered: return "altered";
        case Break::unlinked: return "unlinked";
        case Break::missing: return "missing";
        case Break::out_of_order: return "out_of_order";
        case Break::truncated: return "truncated";
        case Break::beyond_head: return "beyond_head";
        case Break::head_mismatch: return "head_mismatch";
        case Break::not_trusted: return "not_trusted";
    }
    return "unknown";
}

struct Log::Impl {
    /// One caller's entries waiting in a tenant's queue.
    struct Pending {
        std::span<Entry> entries;
        bool finished = false;
        Result<void> result;
    };

    /// A tenant's writer state. `mutex` guards everything but `purge`.
    struct Chain {
        std::mutex mutex;
        std::condition_variable done;
        std::vector<Pending*> waiting;
        bool writing = false;             // a leader is committing a group
        std::optional<ChainHead> head;    // cached; reloaded after any failure
        std::mutex purge;                 // one purge of the tenant at a time
    };

    Impl(storage::AuditStore& s, const Clock& c) : store(s), clock(c) {}

    Chain& chain(const TenantId& tenant) {
        std::lock_guard lock(chains_mutex);
        auto& c = chains[tenant];
        if (!c) c = std::make_unique<Chain>();
        return *c;
    }

    /// Stamps and stores a group of callers' entries in one transaction. Called by the group's
    /// leader without the tenant's mutex held; `head` is the cached head, updated on success and
    /// cleared on failure.
    Result<void> commit(const TenantId& tenant, const std::vector<Pending*>& group, std::optional<ChainHead>& head) {
        std::vector<Entry> joined;
        for (int attempt = 1;; ++attempt) {
            if (!head) {
                auto state = store.chain(tenant);
                if (!state) return state.error();
                head = state->head;
            }
            const Timestamp now = clock.now();
            std::int64_t sequence = head->sequence;
            Hash previous = head->hash;
            for (Pending* p : group)
                for (Entry& e : p->entries) {
                    e.sequence = ++sequence;
                    e.at = now;
                    e.prev_hash = previous;
                    e.hash = chain_hash(previous, e);
                    previous = e.hash;
                }
            std::span<const Entry> batch;
            if (group.size() == 1) {
                batch = group.front()->entries;
            } else {
                joined.clear();
                for (Pending* p : group) joined.insert(joined.end(), p->entries.begin(), p->entries.end());
                batch = joined;
            }
            const ChainHead expected = *head;
            auto stored = store.append(tenant, batch, expected);
            if (stored) {
                head = ChainHead{sequence, previous};
                return {};
            }
            head.reset();
            if (stored.error() != storage::StorageErrc::conflict || attempt == max_attempts) return stored;
        }
    }

    Result<void> append(std::span<Entry> entries) {
        if (entries.empty()) return {};
        if (auto ok = validate(entries); !ok) return ok;
        const TenantId tenant = entries.front().tenant;
        Chain& c = chain(tenant);
        std::unique_lock lock(c.mutex);
        Pending me{entries, false, {}};
        c.waiting.push_back(&me);
        c.done.wait(lock, [&] { return me.finished || !c.writing; });
        if (me.finished) return me.result;

        // Lead: commit everything queued so far, including our own entries.
        c.writing = true;
        std::vector<Pending*> group;
        group.swap(c.waiting);
        std::optional<ChainHead> head = c.head;
        lock.unlock();
        Result<void> result = guarded<void>([&] { return commit(tenant, group, head); });
        lock.lock();
        c.head = head;
        for (Pending* p : group) {
            try {
                p->result = result;
            } catch (...) {  // copying the error's sentence failed: hand over its code alone
                p->result = Error(result ? make_error_code(storage::StorageErrc::unavailable) : result.error().code());
            }
            p->finished = true;
        }
        c.writing = false;
        c.done.notify_all();
        return me.result;
    }

    storage::AuditStore& store;
    const Clock& clock;
    std::mutex chains_mutex;
    std::unordered_map<TenantId, std::unique_ptr<Chain>> chains;
};

Log::Log(storage::AuditStore& store, const Clock& clock) : impl_(std::make_unique<Impl>(store, clock)) {}
Log::~Log() = default;

Result<Entry> Log::append(Entry entry) {
    auto stored = append(std::span<Entry>(&entry, 1));
    if (!stored) return stored.error();
    return entry;
}

Result<void> Log::append(std::span<Entry> entries) {
    return guarded<void>([&] { return impl_->append(entries); });
}

Result<ChainHead> Log::head(const TenantId& tenant) {
    auto state = impl_->store.chain(tenant);
    if (!state) return state.error();
    return state->head;
}

Result<Verification> Log::verify(const TenantId& tenant, std::optional<ChainHead> trusted) const {
    return guarded<Verification>([&]() -> Result<Verification> {
        auto state = impl_->store.chain(tenant);
        if (!state) return state.error();
        Walker walk(*state);
        Verification out;
        out.first = walk.next_sequence();
        auto report = [&]() -> Verification {
            out.checked = walk.checked();
            out.last = walk.next_sequence() - 1;
            if (out.checked == 0) out.first = 0;
            out.problem = walk.problem();
            out.broken_at = walk.broken_at();
            out.detail = walk.detail();
            return out;
        };
        if (trusted && state->checkpoint && trusted->sequence == state->checkpoint->sequence &&
            trusted->hash != state->checkpoint->hash) {
            walk.fail(Break::not_trusted, trusted->sequence,
                      "the purge checkpoint (entry " + std::to_string(trusted->sequence) +
                          ") differs from the trusted head");
            return report();
        }
        // The visitor may run under the store's lock, so it does not call the store: when it
        // meets an entry past the head read at the start, it stops, the head is read again, and
        // the walk goes on (entries appended meanwhile), or that entry is walked and found to lie
        // beyond the head.
        // Hashes are checked on a second thread while this one reads and links the next entries
        // (hashing an entry needs only its content and the stored hash of the one before it).
        detail::HashPipeline hashes;
        std::int64_t reread_for = 0;  // the entry for which the head was last read again
        bool stopped = false, reread = false;
        auto visit = [&](const EntryView& e) {
            if (hashes.failed()) {  // an earlier entry was altered: nothing after it matters
                stopped = true;
                return false;
            }
            if (e.sequence > walk.head().sequence && e.sequence != reread_for) {
                reread_for = e.sequence;
                reread = true;
                return false;
            }
            const Hash previous = walk.previous();
            if (!walk.link(e)) {
                stopped = true;
                return false;
            }
            hashes.add(previous, e);
            if (trusted && e.sequence == trusted->sequence && !same(e.hash, trusted->hash)) {
                walk.fail(Break::not_trusted, e.sequence,
                          "entry " + std::to_string(e.sequence) +
                              " differs from the trusted head: the chain was rewritten");
                stopped = true;
                return false;
            }
            return true;
        };
        for (;;) {
            reread = false;
            auto handed = impl_->store.scan(tenant, walk.next_sequence() - 1, read_batch, visit);
            if (!handed) return handed.error();
            if (stopped) break;
            if (reread) {
                auto now = impl_->store.chain(tenant);
                if (!now) return now.error();
                walk.move_head(now->head);
                continue;
            }
            // A short page ends the walk, unless the head moved on meanwhile: then read on.
            if (*handed < read_batch && (*handed == 0 || walk.next_sequence() - 1 >= walk.head().sequence)) break;
        }
        // An altered entry comes before any break found after it by linking.
        if (auto bad = hashes.finish()) {
            walk.altered(static_cast<std::int64_t>(bad->index), bad->sequence);
            return report();
        }
        if (stopped || !walk.finish()) return report();
        if (trusted && trusted->sequence > walk.next_sequence() - 1)
            walk.fail(Break::truncated, walk.next_sequence(),
                      "the chain ends at entry " + std::to_string(walk.next_sequence() - 1) +
                          " but the trusted head is entry " + std::to_string(trusted->sequence) +
                          ": entries were cut off the end");
        return report();
    });
}

Result<std::vector<Entry>> Log::query(const Query& query) const { return impl_->store.query(query); }

namespace {

void write_jsonl(const Entry& e, std::ostream& out) {
    using nlohmann::json;
    json line = {
        {"tenant", e.tenant.value()},
        {"sequence", e.sequence},
        {"at", to_iso8601(e.at)},
        {"actor", e.actor.is_system() ? json(nullptr) : json(e.actor.user.value())},
        {"actor_role", e.actor.role ? std::string(rbac::to_string(*e.actor.role)) : std::string("system")},
        {"action", e.action},
        {"target_type", e.target_type},
        {"target_id", e.target_id},
        {"outcome", e.allowed() ? "allowed" : "denied"},
        {"reason", std::string(to_string(e.outcome))},
        {"rule", e.rule},
        {"request_id", e.request_id},
        {"policy_revision", e.policy_revision},
        {"prev_hash", to_hex(e.prev_hash)},
        {"hash", to_hex(e.hash)},
    };
    out << line.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
}

}  // namespace

Result<Log::ExportedPage> Log::export_jsonl_page(const Query& query, std::ostream& out) const {
    return guarded<ExportedPage>([&]() -> Result<ExportedPage> {
        Query page = query;
        if (page.limit == 0) page.limit = read_batch;
        auto batch = impl_->store.query(page);
        if (!batch) return batch.error();
        ExportedPage written;
        for (const Entry& e : *batch) write_jsonl(e, out);
        if (!out) return Error(storage::StorageErrc::unavailable, "the audit export could not be written");
        written.lines = batch->size();
        if (!batch->empty() && batch->size() >= page.limit) written.next_after = batch->back().sequence;
        return written;
    });
}

Result<std::size_t> Log::export_jsonl(const Query& query, std::ostream& out) const {
    Query page = query;
    std::size_t lines = 0;
    for (;;) {
        auto written = export_jsonl_page(page, out);
        if (!written) return written.error();
        lines += written->lines;
        if (!written->next_after) return lines;
        page.after_sequence = *written->next_after;
    }
}

Result<PurgeReport> Log::purge_before(const TenantId& tenant, Timestamp cutoff, std::size_t max_entries) {
    return guarded<PurgeReport>([&]() -> Result<PurgeReport> {
        if (tenant.empty()) return Error(AuditErrc::invalid_entry, "a purge needs a tenant");
        std::lock_guard purge_lock(impl_->chain(tenant).purge);
        auto state = impl_->store.chain(tenant);
        if (!state) return state.error();
        PurgeReport report;
        report.checkpoint = state->checkpoint;

        // Find and verify the prefix to purge: entries before the cutoff, at most max_entries.
        Walker walk(*state);
        std::int64_t through = 0;
        bool done = false, broken = false;
        while (!done) {
            auto handed = impl_->store.scan(tenant, walk.next_sequence() - 1, read_batch, [&](const EntryView& e) {
                if (e.at >= cutoff || static_cast<std::size_t>(walk.checked()) == max_entries) {
                    report.more = e.at < cutoff;  // stopped at max_entries with older entries left
                    done = true;
                    return false;
                }
                if (!walk.step(e)) {
                    broken = true;
                    return false;
                }
                through = e.sequence;
                return true;
            });
            if (!handed) return handed.error();
            if (broken) return Error(AuditErrc::chain_broken, "nothing was purged: " + walk.detail());
            if (*handed < read_batch) break;
        }
        if (through == 0) return report;

        // Log the purge first: an unlogged purge never happens.
        Entry note;
        note.tenant = tenant;
        note.actor = Actor::system();
        note.action = "audit.purge";
        note.target_type = "audit_log";
        note.target_id = "through:" + std::to_string(through);
        note.rule = "audit.retention";
        if (auto logged = append(std::move(note)); !logged) return logged.error();

        auto purged = impl_->store.purge_through(tenant, through);
        if (!purged) return purged.error();
        auto after = impl_->store.chain(tenant);
        if (!after) return after.error();
        report.purged = *purged;
        report.checkpoint = after->checkpoint;
        return report;
    });
}

}  // namespace heroshhi::audit
