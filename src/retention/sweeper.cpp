#include <heroshhi/retention/sweeper.hpp>

#include <heroshhi/audit/chain.hpp>
#include <heroshhi/audit/errors.hpp>
#include <heroshhi/audit/pseudonym.hpp>
#include <heroshhi/crypto/blind_index.hpp>
#include <heroshhi/retention/errors.hpp>
#include <heroshhi/storage/errors.hpp>
#include <heroshhi/storage/store_set.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <utility>

namespace heroshhi::retention {
namespace {

constexpr std::size_t max_batch_size = 100'000;
constexpr std::size_t max_target_name = 64;
constexpr std::size_t tenant_page = 100;
constexpr std::size_t audit_page = 512;  // a page of entries while counting the purge (SqliteStore reserves a page)
constexpr std::size_t contact_page = 500;  // contacts read per page while looking for held leads
constexpr std::string_view sweep_action = "retention.sweep";
constexpr std::string_view optout_step_name = "optout_events";

/// Where a sweep is, as kept in the journal between batches. The journal text is JSON, versioned.
struct State {
    enum class Phase { data, audit, record };

    Timestamp as_of{};
    std::string done_through;  ///< the last tenant finished ("" before the first)
    // The tenant in progress ("" between tenants) and where in it.
    std::string tenant;
    bool terminated = false;   ///< the plan the tenant was started with
    bool held = false;         ///< a hold was found during the sweep: count, do not delete
    std::size_t step = 0;
    std::size_t target = 0;
    std::string cursor;
    Phase phase = Phase::data;
    std::int64_t audit_head = 0;  ///< the audit head before the sweep's own entry (phase record)
    /// The opt-out step: the end of a pass whose counts are saved but whose numbers may not all be
    /// reduced yet (-1: none). The pass is redone up to here, without counting, on resume.
    std::int64_t pending = -1;
    /// The audit purge's bound when a held lead's entry stops it before the plan's (0: the plan's).
    std::int64_t audit_cutoff_ms = 0;
    bool audit_chain_broken = false;
    std::array<Counts, category_count> counts{};

    void start_tenant(const TenantId& t, bool terminated_now) {
        const std::string done = done_through;
        const Timestamp at = as_of;
        *this = State{};
        as_of = at;
        done_through = done;
        tenant = t.value();
        terminated = terminated_now;
    }
};

std::string_view phase_name(State::Phase p) {
    switch (p) {
        case State::Phase::data: return "data";
        case State::Phase::audit: return "audit";
        case State::Phase::record: return "record";
    }
    return "data";
}

/// Tenant ids and cursors are the host's bytes, not necessarily UTF-8: the journal keeps them in hex.
std::string hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 15]);
    }
    return out;
}
std::string unhex(const std::string& text) {
    auto value = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        throw std::invalid_argument("not a hex digit");
    };
    if (text.size() % 2 != 0) throw std::invalid_argument("odd hex length");
    std::string out;
    for (std::size_t i = 0; i < text.size(); i += 2) out.push_back(static_cast<char>(value(text[i]) * 16 + value(text[i + 1])));
    return out;
}

std::string encode(const State& s) {
    nlohmann::json counts = nlohmann::json::array();
    for (const Counts& c : s.counts)
        counts.push_back({c.soft_deleted, c.hard_deleted, c.cascaded, c.held, c.purged, c.hashed});
    const nlohmann::json j = {
        {"v", 1},
        {"as_of", to_unix_ms(s.as_of)},
        {"done_through", hex(s.done_through)},
        {"tenant", hex(s.tenant)},
        {"terminated", s.terminated},
        {"held", s.held},
        {"step", s.step},
        {"target", s.target},
        {"cursor", hex(s.cursor)},
        {"phase", phase_name(s.phase)},
        {"audit_head", s.audit_head},
        {"audit_chain_broken", s.audit_chain_broken},
        {"pending", s.pending},
        {"audit_cutoff", s.audit_cutoff_ms},
        {"counts", counts},
    };
    return j.dump();
}

Result<State> decode(std::string_view text) {
    try {
        const auto j = nlohmann::json::parse(text);
        if (j.at("v").get<int>() != 1) return Error(RetentionErrc::corrupt_journal, "unknown journal version");
        State s;
        s.as_of = from_unix_ms(j.at("as_of").get<std::int64_t>());
        s.done_through = unhex(j.at("done_through").get<std::string>());
        s.tenant = unhex(j.at("tenant").get<std::string>());
        s.terminated = j.at("terminated").get<bool>();
        s.held = j.at("held").get<bool>();
        s.step = j.at("step").get<std::size_t>();
        s.target = j.at("target").get<std::size_t>();
        s.cursor = unhex(j.at("cursor").get<std::string>());
        const auto phase = j.at("phase").get<std::string>();
        if (phase == "data") s.phase = State::Phase::data;
        else if (phase == "audit") s.phase = State::Phase::audit;
        else if (phase == "record") s.phase = State::Phase::record;
        else return Error(RetentionErrc::corrupt_journal, "unknown phase '" + phase + "'");
        s.audit_head = j.at("audit_head").get<std::int64_t>();
        s.audit_chain_broken = j.at("audit_chain_broken").get<bool>();
        // Absent in journals written before the opt-out step and contact holds on the audit purge.
        s.pending = j.value("pending", std::int64_t{-1});
        s.audit_cutoff_ms = j.value("audit_cutoff", std::int64_t{0});
        const auto& counts = j.at("counts");
        // A journal written before webhook_key was added has one count fewer: the missing ones are 0.
        if (!counts.is_array() || counts.size() < category_count - 1 || counts.size() > category_count)
            return Error(RetentionErrc::corrupt_journal, "counts are not one per category");
        for (std::size_t i = 0; i < counts.size(); ++i) {
            const auto& c = counts.at(i);
            // Five fields before `hashed` was added.
            if (!c.is_array() || c.size() < 5 || c.size() > 6)
                return Error(RetentionErrc::corrupt_journal, "a category's counts are not 5 or 6 numbers");
            s.counts[i] = Counts{c.at(0).get<std::int64_t>(), c.at(1).get<std::int64_t>(), c.at(2).get<std::int64_t>(),
                                 c.at(3).get<std::int64_t>(), c.at(4).get<std::int64_t>(),
                                 c.size() > 5 ? c.at(5).get<std::int64_t>() : 0};
        }
        return s;
    } catch (const std::exception& e) {
        return Error(RetentionErrc::corrupt_journal, std::string("the journal text cannot be read: ") + e.what());
    }
}

template <class T, class Body>
Result<T> guarded(Body&& body) noexcept {
    try {
        return body();
    } catch (const std::exception& e) {
        try {
            return Error(storage::StorageErrc::unavailable, std::string("retention sweep: ") + e.what());
        } catch (...) {
            return Error(make_error_code(storage::StorageErrc::unavailable));
        }
    } catch (...) {
        return Error(make_error_code(storage::StorageErrc::unavailable));
    }
}

Result<void> validate(const std::vector<TargetBinding>& bindings) {
    std::set<std::string, std::less<>> names;
    for (const TargetBinding& b : bindings) {
        if (b.target == nullptr) return Error(RetentionErrc::invalid_target, "a target binding has no target");
        const std::string_view name = b.target->name();
        switch (b.category) {
            case Category::lead:
            case Category::message:
            case Category::account:
            case Category::activity_log:
            case Category::webhook_key: break;
            case Category::optout_record:
                return Error(RetentionErrc::optout_records_protected,
                             "target '" + std::string(name) +
                                 "': opt-out records are never auto-deleted, so no target may sweep them");
            case Category::audit_log:
                return Error(RetentionErrc::invalid_target,
                             "target '" + std::string(name) + "': the audit trail is purged through audit::Log; "
                                                              "bind a host's own log table as activity_log");
            case Category::analytics:
                return Error(RetentionErrc::invalid_target,
                             "target '" + std::string(name) + "': analytics aggregates are kept indefinitely");
        }
        if (name.empty() || name.size() > max_target_name)
            return Error(RetentionErrc::invalid_target, "a target's name must have 1 to 64 bytes");
        if (!names.emplace(name).second)
            return Error(RetentionErrc::invalid_target, "two targets are named '" + std::string(name) + "'");
    }
    return {};
}

}  // namespace

struct Sweeper::Impl {
    Impl(Policy p, RetentionStores& s, audit::Log& l, const Clock& c, Setup setup, std::vector<TargetBinding> b)
        : policy(std::move(p)),
          stores(s),
          log(l),
          clock(c),
          name(std::move(setup.name)),
          bindings(std::move(b)),
          blind_index(setup.blind_index),
          audit_key(std::move(setup.audit_key)) {}

    /// One call of run(): its options, state and report.
    struct Run {
        const SweepOptions& options;
        State state;
        SweepReport report;
        Timestamp started{};
        bool worked = false;  ///< at least one batch was done (so a stop never starves a sweep)
        bool stop = false;
    };

    Result<SweepReport> run(Timestamp now, const SweepOptions& options) {
        if (options.batch_size == 0 || options.batch_size > max_batch_size)
            return Error(RetentionErrc::invalid_options, "batch_size must be 1 to 100,000 rows");
        std::lock_guard lock(mutex);
        Run r{options, State{}, SweepReport{}, clock.now()};
        auto saved = stores.journal().load(name);
        if (!saved) return saved.error();
        if (*saved) {
            auto state = decode(**saved);
            if (!state) return state.error();
            r.state = std::move(state).value();
            r.report.resumed = true;
        } else {
            r.state.as_of = now;
        }
        r.report.as_of = r.state.as_of;
        r.report.dry_run = options.dry_run;

        storage::Page page{r.state.done_through, tenant_page};
        for (;;) {
            auto accounts = stores.accounts().list(page);
            if (!accounts) return accounts.error();
            for (const storage::Account& account : *accounts) {
                if (r.worked && out_of_time(r)) return r.report;
                auto finished = sweep_tenant(r, account);
                if (!finished) return finished.error();
                if (!*finished) return r.report;
                r.state.done_through = account.tenant.value();
                r.state.tenant.clear();
                if (auto ok = save(r); !ok) return ok.error();
            }
            if (accounts->size() < page.limit) break;
            page.after = accounts->back().tenant.value();
        }
        if (!options.dry_run)
            if (auto ok = stores.journal().clear(name); !ok) return ok.error();
        r.report.complete = true;
        return r.report;
    }

    /// Sweeps one tenant; false if the run stopped inside it.
    Result<bool> sweep_tenant(Run& r, const storage::Account& account) {
        State& st = r.state;
        const Plan plan = policy.plan(account, st.as_of);
        if (st.tenant != account.tenant.value()) st.start_tenant(account.tenant, plan.terminated);
        if (st.terminated != plan.terminated) {
            // The account was closed (or reopened) since this tenant's sweep began: start its
            // steps again under the new plan; what was done stays done and counted.
            st.terminated = plan.terminated;
            st.step = st.target = 0;
            st.cursor.clear();
            st.pending = -1;
            st.phase = State::Phase::data;
        }
        st.held = st.held || plan.held;
        r.report.tenants.push_back(TenantReport{account.tenant});
        sync_report(r);

        for (; st.phase == State::Phase::data && st.step < plan.steps.size(); ++st.step, st.target = 0) {
            const Step& step = plan.steps[st.step];
            if (step.action == Action::reduce_to_tag) {
                auto done = reduce_optouts(r, account.tenant);
                if (!done) return done.error();
                if (!*done) return false;
                continue;
            }
            const std::vector<Target*> targets = bound(step.category);
            for (; st.target < targets.size(); ++st.target, st.cursor.clear()) {
                auto done = sweep_target(r, account.tenant, step, *targets[st.target]);
                if (!done) return done.error();
                if (!*done) return false;
            }
        }
        if (st.phase == State::Phase::data) {
            if (auto ok = count_audit_purge(r, account.tenant, plan.audit_cutoff); !ok) return ok.error();
        }
        if (st.phase == State::Phase::audit) {
            // A dry run resuming an interrupted purge: its count is already in the journal's counts.
            const Timestamp cutoff = st.audit_cutoff_ms != 0 ? from_unix_ms(st.audit_cutoff_ms) : plan.audit_cutoff;
            if (r.options.dry_run) st.phase = State::Phase::record;
            else if (auto ok = purge_audit(r, account.tenant, cutoff); !ok) return ok.error();
        }
        if (auto ok = record(r, account.tenant); !ok) return ok.error();
        return true;
    }

    /// Runs one step over one target, batch by batch; false if the run stopped.
    Result<bool> sweep_target(Run& r, const TenantId& tenant, const Step& step, Target& target) {
        State& st = r.state;
        Counts& counts = st.counts[static_cast<std::size_t>(step.category)];
        std::optional<std::int64_t> total;
        if (r.options.progress) {
            auto n = target.count(tenant, step.selection, step.cutoff);
            if (!n) return n.error();
            total = *n;
        }
        std::int64_t examined = 0;
        for (;;) {
            auto page = target.candidates(tenant, step.selection, step.cutoff, st.cursor, r.options.batch_size);
            if (!page) return page.error();
            examined += static_cast<std::int64_t>(page->rows.size());
            if (!page->rows.empty()) st.cursor = page->next;

            Counts expected;
            std::vector<std::string> ids;
            for (const Candidate& row : page->rows) {
                if (!Policy::due(step, row.since)) continue;  // a target's mistake is never acted on
                if (st.held || row.legal_hold) {
                    ++expected.held;
                    continue;
                }
                ids.push_back(row.id);
                if (step.action == Action::soft_delete) {
                    ++expected.soft_deleted;
                } else {
                    ++expected.hard_deleted;
                    expected.cascaded += row.dependents;
                }
            }
            if (!ids.empty() && !r.options.dry_run) {
                auto held = tenant_held_now(tenant);
                if (!held) return held.error();
                if (*held) {  // a hold placed during the sweep wins from this batch on
                    st.held = true;
                    r.report.tenants.back().held = true;
                    expected = Counts{.held = expected.held + static_cast<std::int64_t>(ids.size())};
                    ids.clear();
                }
            }
            if (r.options.dry_run) {
                counts += expected;
            } else if (ids.empty()) {
                counts += expected;
                if (auto ok = save(r); !ok) return ok.error();
            } else if (auto ok = apply(r, tenant, step, target, ids, expected, counts); !ok) {
                return ok.error();
            }
            r.worked = true;
            sync_report(r);
            if (r.options.progress &&
                !r.options.progress(Progress{tenant, step.category, target.name(), examined, total, counts}))
                r.stop = true;
            if (!page->more) return !stopping(r);
            if (stopping(r)) return false;
        }
    }

    /// Deletes one batch; its progress goes into the same transaction when the target can do that.
    Result<void> apply(Run& r, const TenantId& tenant, const Step& step, Target& target,
                       const std::vector<std::string>& ids, const Counts& expected, Counts& counts) {
        State next = r.state;
        next.counts[static_cast<std::size_t>(step.category)] += expected;
        const std::string progress = encode(next);
        const Batch batch{tenant, step.selection, step.cutoff, ids, r.state.as_of, name, progress};
        auto change = step.action == Action::soft_delete ? target.soft_delete(batch) : target.hard_delete(batch);
        if (!change) return change.error();
        Counts actual{.held = expected.held};
        if (step.action == Action::soft_delete) actual.soft_deleted = change->rows;
        else actual.hard_deleted = change->rows;
        actual.cascaded = change->dependents;
        counts += actual;
        // A row that changed between listing and deleting (a concurrent edit) makes the counts
        // differ from what was saved with the batch: save the true ones.
        if (!change->progress_saved || actual != expected) return save(r);
        return {};
    }

    // ---- opt-out records at termination: reduced to keyed hashes ----

    /// The tenant's leads under legal hold, live or soft-deleted (few: a hold is an exception).
    /// None when the database keeps no contacts the sweeper can see.
    Result<std::vector<storage::Contact>> held_contacts(const TenantId& tenant) {
        std::vector<storage::Contact> out;
        storage::StoreSet* set = stores.store_set();
        if (set == nullptr) return out;
        storage::Page page{"", contact_page};
        for (;;) {
            auto contacts = set->contacts().list_held(tenant, page);
            if (!contacts) return contacts.error();
            for (storage::Contact& c : *contacts)
                if (c.legal_hold) out.push_back(std::move(c));
            if (contacts->size() < page.limit) return out;
            page.after = contacts->back().id.value();
        }
    }

    /// One read of the tenant's plain opt-out events after a cursor.
    struct OptOutScan {
        std::map<std::uint64_t, PhoneNumber> numbers;  ///< to reduce (at most one batch of them)
        std::int64_t hashed = 0;  ///< events that reducing `numbers` (and, counting only, the rest) takes
        std::int64_t held = 0;    ///< events kept plain because of a hold
        std::int64_t next = 0;    ///< the cursor after this read
        bool more = false;        ///< a number did not fit: read again from `next`
    };

    /// A pass of a real run: up to `limit` numbers, in the order of their first event after
    /// `after`. Every event up to `next` is then either of a number in `numbers` or of a held
    /// lead's (counted here, once); the events after `next` of the numbers in `numbers` are counted
    /// too, as reducing them takes those as well. Memory: one batch of numbers.
    Result<OptOutScan> optout_pass(const TenantId& tenant, std::int64_t after, std::size_t limit,
                                   const std::set<std::uint64_t>& held) const {
        OptOutScan out;
        out.next = after;
        auto visit = [&](const optout::OptOutEvent& e) {
            const std::uint64_t key = e.phone.key();
            if (out.more) {
                if (out.numbers.contains(key)) ++out.hashed;
                return;
            }
            if (held.contains(key)) {
                ++out.held;
            } else if (out.numbers.contains(key)) {
                ++out.hashed;
            } else if (out.numbers.size() == limit) {
                out.more = true;  // this event is the first one the next pass reads
                return;
            } else {
                out.numbers.emplace(key, e.phone);
                ++out.hashed;
            }
            out.next = e.sequence;
        };
        if (auto ok = optouts().scan_since(tenant, after, visit, [](const optout::ErasedOptOutEvent&) {}); !ok)
            return ok.error();
        return out;
    }

    /// Counting without reducing (a dry run, or a tenant under hold): every plain event after
    /// `after`. With a pending pass (`pending` >= 0), the numbers of its events up to `pending`
    /// were counted with it; they are collected (one batch at most) so their later events are not
    /// counted again. `numbers` holds them (they still need reducing), `all_held` counts as held.
    Result<OptOutScan> optout_count(const TenantId& tenant, std::int64_t after, std::int64_t pending,
                                    const std::set<std::uint64_t>& held, bool all_held) const {
        OptOutScan out;
        out.next = after;
        auto visit = [&](const optout::OptOutEvent& e) {
            const std::uint64_t key = e.phone.key();
            out.next = e.sequence;
            const bool held_number = all_held || held.contains(key);
            if (e.sequence <= pending) {
                if (!held_number) out.numbers.emplace(key, e.phone);
                return;
            }
            if (held_number) ++out.held;
            else if (!out.numbers.contains(key)) ++out.hashed;
        };
        if (auto ok = optouts().scan_since(tenant, after, visit, [](const optout::ErasedOptOutEvent&) {}); !ok)
            return ok.error();
        return out;
    }

    /// Reduces each number's events to its tag. Idempotent: a number already reduced has no plain
    /// events left, and erase_number changes nothing.
    Result<void> reduce(const TenantId& tenant, const std::map<std::uint64_t, PhoneNumber>& numbers) {
        if (numbers.empty()) return {};
        if (blind_index == nullptr) return no_key(tenant);
        for (const auto& [key, phone] : numbers) {
            auto tag = blind_index->phone(tenant, phone);
            if (!tag) return tag.error();
            auto erased = optouts().erase_number(tenant, phone, *tag);
            if (!erased) return erased.error();
        }
        return {};
    }

    static Error no_key(const TenantId& tenant) {
        return Error(RetentionErrc::key_unavailable,
                     "tenant '" + tenant.value() +
                         "' is terminated and has opt-out records with plain numbers, which must be kept only as "
                         "keyed hashes: give Sweeper::Setup::blind_index (the Engine's blind index)");
    }

    storage::OptOutStore& optouts() const { return stores.store_set()->optouts(); }

    /// The terminated plan's reduce_to_tag step; false if the run stopped inside it.
    Result<bool> reduce_optouts(Run& r, const TenantId& tenant) {
        if (stores.store_set() == nullptr) return true;  // no opt-out events in this database
        State& st = r.state;
        Counts& counts = st.counts[static_cast<std::size_t>(Category::optout_record)];
        std::set<std::uint64_t> held;
        {
            auto contacts = held_contacts(tenant);
            if (!contacts) return contacts.error();
            for (const storage::Contact& c : *contacts) held.insert(c.phone.key());
        }
        auto cursor_of = [&]() -> Result<std::int64_t> {
            std::int64_t n = 0;
            const auto [end, ec] = std::from_chars(st.cursor.data(), st.cursor.data() + st.cursor.size(), n);
            if (ec != std::errc{} || end != st.cursor.data() + st.cursor.size())
                return Error(RetentionErrc::corrupt_journal, "the opt-out step's cursor is not a sequence");
            return n;
        };
        if (st.cursor.empty()) st.cursor = "0";
        std::int64_t examined = 0;
        for (;;) {
            auto cursor = cursor_of();
            if (!cursor) return cursor.error();
            if (r.options.dry_run || st.held) {
                // One read, counting: a dry run changes nothing, a held tenant keeps every number.
                auto scan = optout_count(tenant, *cursor, st.pending, held, st.held);
                if (!scan) return scan.error();
                if (!st.held && (scan->hashed > 0 || !scan->numbers.empty()) && blind_index == nullptr)
                    return no_key(tenant);
                counts.hashed += scan->hashed;
                counts.held += scan->held;
                if (!r.options.dry_run) {
                    st.cursor = std::to_string(std::max(scan->next, st.pending));
                    st.pending = -1;
                    if (auto ok = save(r); !ok) return ok.error();
                }
                examined += scan->hashed + scan->held;
                if (!progress(r, tenant, examined, counts)) return false;
                st.cursor.clear();
                return true;
            }
            if (st.pending >= 0) {
                // A pass interrupted between saving its counts and reducing its numbers: finish it.
                auto redo = optout_count(tenant, *cursor, st.pending, held, false);
                if (!redo) return redo.error();
                if (auto ok = reduce(tenant, redo->numbers); !ok) return ok.error();
                st.cursor = std::to_string(st.pending);
                st.pending = -1;
                if (auto ok = save(r); !ok) return ok.error();
                continue;
            }
            auto pass = optout_pass(tenant, *cursor, r.options.batch_size, held);
            if (!pass) return pass.error();
            if (!pass->numbers.empty()) {
                if (blind_index == nullptr) return no_key(tenant);
                auto hold = tenant_held_now(tenant);
                if (!hold) return hold.error();
                if (*hold) {  // a hold placed during the sweep: count the rest as held instead
                    st.held = true;
                    r.report.tenants.back().held = true;
                    continue;
                }
            }
            counts.hashed += pass->hashed;
            counts.held += pass->held;
            if (pass->numbers.empty()) {
                st.cursor = std::to_string(pass->next);
            } else {
                // Counts first, with the pass marked pending: a crash before the numbers are all
                // reduced redoes the reductions on resume without counting them twice.
                st.pending = pass->next;
                if (auto ok = save(r); !ok) return ok.error();
                if (auto ok = reduce(tenant, pass->numbers); !ok) return ok.error();
                st.cursor = std::to_string(pass->next);
                st.pending = -1;
            }
            if (auto ok = save(r); !ok) return ok.error();
            examined += pass->hashed + pass->held;
            if (!progress(r, tenant, examined, counts)) return false;
            if (!pass->more) {
                st.cursor.clear();
                return true;
            }
        }
    }

    /// After a batch of the opt-out step: reports progress; false if the run stops here.
    bool progress(Run& r, const TenantId& tenant, std::int64_t examined, const Counts& counts) {
        r.worked = true;
        sync_report(r);
        if (r.options.progress &&
            !r.options.progress(Progress{tenant, Category::optout_record, optout_step_name, examined, {}, counts}))
            r.stop = true;
        return !stopping(r);
    }

    /// What a walk over the due prefix of a tenant's audit chain found.
    struct AuditWalk {
        std::int64_t entries = 0;                ///< intact entries before the cutoff (up to a break)
        bool broken = false;
        std::optional<Timestamp> first_held_at;  ///< the time of the first of them about a held lead
    };

    /// Walks the prefix purge_before(cutoff) would take, checking the chain as the purge will.
    /// What names a held lead in the audit trail: (type, id) keys, and whether any entry naming a
    /// number by pseudonym must be taken as naming one (held leads but no audit key to tell).
    struct HeldTargets {
        std::set<std::string> keys;
        bool any_pseudonym = false;
        bool matches(const audit::Entry& e) const {
            return keys.contains(target_key(e.target_type, e.target_id)) ||
                   (any_pseudonym && e.target_id.starts_with(audit::pseudonym_prefix));
        }
    };

    Result<AuditWalk> walk_audit(const TenantId& tenant, Timestamp cutoff, const HeldTargets& held) {
        auto head = log.head(tenant);
        if (!head) return head.error();
        AuditWalk w;
        audit::Query page(tenant);
        page.limit = audit_page;
        std::optional<audit::Entry> previous;
        for (bool end = false; !end;) {
            auto batch = log.query(page);
            if (!batch) return batch.error();
            for (const audit::Entry& e : *batch) {
                if (e.at >= cutoff) {
                    end = true;
                    break;
                }
                const bool linked = !previous || (e.sequence == previous->sequence + 1 && e.prev_hash == previous->hash);
                if (!linked || e.sequence > head->sequence || audit::chain_hash(e.prev_hash, e) != e.hash) {
                    w.broken = true;
                    end = true;
                    break;
                }
                if (!w.first_held_at && held.matches(e)) w.first_held_at = e.at;
                ++w.entries;
                previous = e;
            }
            if (batch->size() < page.limit) break;
            page.after_sequence = batch->back().sequence;
        }
        return w;
    }

    static std::string target_key(std::string_view type, std::string_view id) {
        std::string key(type);
        key.push_back('\0');
        key.append(id);
        return key;
    }

    /// The audit targets that name a lead under legal hold: ("contact" or "lead", its id) and,
    /// with the audit key, ("contact", its number's pseudonym). Without the key a held lead's
    /// pseudonym cannot be told from another's, so every pseudonym is taken as held (fail closed).
    Result<HeldTargets> held_audit_targets(const TenantId& tenant) {
        HeldTargets out;
        auto held = held_contacts(tenant);
        if (!held) return held.error();
        for (const storage::Contact& c : *held) {
            out.keys.insert(target_key("contact", c.id.value()));
            out.keys.insert(target_key("lead", c.id.value()));
            if (audit_key.empty()) out.any_pseudonym = true;
            else out.keys.insert(target_key("contact", audit::phone_pseudonym(audit_key, c.phone)));
        }
        return out;
    }

    /// Counts what the audit purge will remove (walking and checking the prefix as the purge
    /// will), then moves to the purge or, if there is nothing to purge, to the record. An entry
    /// about a held lead ends the prefix early (the chain can only lose a prefix): it and the due
    /// entries after it are counted as held.
    Result<void> count_audit_purge(Run& r, const TenantId& tenant, Timestamp cutoff) {
        State& st = r.state;
        HeldTargets held_targets;
        if (!st.held) {
            auto targets = held_audit_targets(tenant);
            if (!targets) return targets.error();
            held_targets = std::move(targets).value();
        }
        auto walked = walk_audit(tenant, cutoff, held_targets);
        if (!walked) return walked.error();
        std::int64_t n = walked->entries;
        bool broken = walked->broken;
        std::int64_t kept = 0;
        st.audit_cutoff_ms = 0;
        if (walked->first_held_at) {
            auto before = walk_audit(tenant, *walked->first_held_at, {});
            if (!before) return before.error();
            kept = n - before->entries;
            n = before->entries;
            broken = before->broken;
            st.audit_cutoff_ms = to_unix_ms(*walked->first_held_at);
        }
        if (!st.held && !broken && n > 0 && !r.options.dry_run) {
            auto held = tenant_held_now(tenant);
            if (!held) return held.error();
            st.held = *held;
        }
        Counts& counts = st.counts[static_cast<std::size_t>(Category::audit_log)];
        if (st.held) {
            if (!walked->broken) counts.held += walked->entries;
        } else if (broken) {
            st.audit_chain_broken = true;
        } else {
            counts.purged += n;
            counts.held += kept;
        }
        sync_report(r);
        const bool purge = !st.held && !broken && n > 0 && !r.options.dry_run;
        if (purge) {
            st.phase = State::Phase::audit;
            return save(r);
        }
        return enter_record(r, tenant);
    }

    /// Purges the counted prefix; the count was saved before, so a crash here does not lose it.
    Result<void> purge_audit(Run& r, const TenantId& tenant, Timestamp cutoff) {
        for (;;) {
            auto purged = log.purge_before(tenant, cutoff);
            if (!purged) {
                if (purged.error() != audit::AuditErrc::chain_broken) return purged.error();
                // Broken where the count could not see (at the purge checkpoint): keep the evidence.
                r.state.audit_chain_broken = true;
                r.state.counts[static_cast<std::size_t>(Category::audit_log)].purged = 0;
                break;
            }
            if (!purged->more) break;
        }
        sync_report(r);
        return enter_record(r, tenant);
    }

    Result<void> enter_record(Run& r, const TenantId& tenant) {
        r.state.phase = State::Phase::record;
        if (r.options.dry_run) return {};
        auto head = log.head(tenant);
        if (!head) return head.error();
        r.state.audit_head = head->sequence;
        return save(r);
    }

    /// Appends the tenant's one "retention.sweep" entry, unless an earlier, interrupted run of this
    /// sweep already did.
    Result<void> record(Run& r, const TenantId& tenant) {
        if (r.options.dry_run) return {};
        audit::Query written(tenant);
        written.action = std::string(sweep_action);
        written.after_sequence = r.state.audit_head;
        written.limit = 1;
        auto found = log.query(written);
        if (!found) return found.error();
        if (!found->empty()) return {};
        audit::Entry entry;
        entry.tenant = tenant;
        entry.actor = audit::Actor::system();
        entry.action = std::string(sweep_action);
        entry.target_type = "retention_sweep";
        entry.target_id = r.report.tenants.back().to_audit_text(r.state.as_of);
        entry.rule = "retention.policy";
        entry.request_id = r.options.request_id;
        entry.policy_revision = policy.revision();
        auto appended = log.append(std::move(entry));
        if (!appended) return appended.error();
        return {};
    }

    Result<bool> tenant_held_now(const TenantId& tenant) {
        auto account = stores.accounts().get(tenant);
        if (!account) return account.error();
        return *account && (*account)->legal_hold;
    }

    Result<void> save(Run& r) {
        if (r.options.dry_run) return {};
        return stores.journal().save(name, encode(r.state));
    }

    void sync_report(Run& r) {
        TenantReport& t = r.report.tenants.back();
        t.counts = r.state.counts;
        t.held = r.state.held;
        t.terminated = r.state.terminated;
        t.audit_chain_broken = r.state.audit_chain_broken;
    }

    bool out_of_time(const Run& r) const {
        return r.options.time_budget && clock.now() - r.started >= *r.options.time_budget;
    }
    bool stopping(Run& r) const {
        r.stop = r.stop || out_of_time(r);
        return r.stop;
    }

    std::vector<Target*> bound(Category c) const {
        std::vector<Target*> out;
        for (const TargetBinding& b : bindings)
            if (b.category == c) out.push_back(b.target);
        return out;
    }

    Policy policy;
    RetentionStores& stores;
    audit::Log& log;
    const Clock& clock;
    std::string name;
    std::vector<TargetBinding> bindings;  ///< the store's own targets, then the host's
    const crypto::BlindIndex* blind_index;
    std::string audit_key;
    std::mutex mutex;
};

Result<Sweeper> Sweeper::create(Policy policy, RetentionStores& stores, audit::Log& log, const Clock& clock,
                                Setup setup) {
    return guarded<Sweeper>([&]() -> Result<Sweeper> {
        if (setup.name.empty() || setup.name.size() > max_target_name)
            return Error(RetentionErrc::invalid_target, "a sweeper's name must have 1 to 64 bytes");
        std::vector<TargetBinding> bindings = stores.targets();
        bindings.insert(bindings.end(), setup.extra_targets.begin(), setup.extra_targets.end());
        if (auto ok = validate(bindings); !ok) return ok.error();
        return Sweeper(std::make_unique<Impl>(std::move(policy), stores, log, clock, std::move(setup),
                                              std::move(bindings)));
    });
}

Sweeper::Sweeper(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Sweeper::Sweeper(Sweeper&&) noexcept = default;
Sweeper& Sweeper::operator=(Sweeper&&) noexcept = default;
Sweeper::~Sweeper() = default;

Result<SweepReport> Sweeper::run(Timestamp now, const SweepOptions& options) {
    return guarded<SweepReport>([&] { return impl_->run(now, options); });
}

const Policy& Sweeper::policy() const noexcept { return impl_->policy; }

}  // namespace heroshhi::retention
