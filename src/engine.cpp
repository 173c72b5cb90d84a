#include <heroshhi/engine.hpp>

#include <heroshhi/audit/pseudonym.hpp>
#include <heroshhi/crypto/blind_index.hpp>
#include <heroshhi/storage/errors.hpp>

#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <exception>
#include <mutex>
#include <new>
#include <stop_token>
#include <thread>
#include <variant>
#include <type_traits>
#include <unordered_map>

namespace heroshhi {

ReplyTexts ReplyTexts::defaults() {
    ReplyTexts r;
    r.optout_confirmation = {
        {"en", "You have been unsubscribed and will not receive further messages from us. Reply START to subscribe again."},
        {"es", "Has cancelado tu suscripción y no recibirás más mensajes nuestros. Responde START para volver a suscribirte."},
        {"pt", "Você cancelou a inscrição e não receberá mais mensagens nossas. Responda START para se inscrever novamente."},
        {"fr", "Vous êtes désabonné et ne recevrez plus de messages de notre part. Répondez START pour vous réabonner."},
        {"de", "Sie wurden abgemeldet und erhalten keine weiteren Nachrichten von uns. Antworten Sie START, um sich wieder anzumelden."},
        {"it", "Hai annullato l'iscrizione e non riceverai altri messaggi da noi. Rispondi START per iscriverti di nuovo."},
    };
    r.marketing_optout_confirmation =
        "You will no longer receive promotional messages from us. Service messages about your requests continue.";
    r.optin_confirmation = "You are subscribed again. Reply STOP at any time to unsubscribe.";
    r.help = "Reply STOP to stop receiving messages from us, or START to receive them again.";
    return r;
}

namespace {

/// 32 random bytes from OpenSSL's CSPRNG: the audit pseudonym key when the host gives none.
std::string random_key() {
    std::string key(32, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) != 1)
        throw std::bad_alloc();  // the CSPRNG fails only when it cannot be seeded or allocate
    return key;
}

static_assert(std::is_same_v<optout::NumberTag, crypto::BlindIndex::Tag>);

struct TagHash {
    std::size_t operator()(const optout::NumberTag& tag) const noexcept {
        std::size_t h = 0;
        std::memcpy(&h, tag.data(), sizeof h);  // the tag is already a keyed hash
        return h;
    }
};

/// Erased numbers of one tenant: each tag's opt-out history, oldest first.
using ErasedNumbers = std::unordered_map<optout::NumberTag, std::vector<optout::ErasedOptOutEvent>, TagHash>;

Error no_blind_index(const TenantId& tenant) {
    return Error(storage::StorageErrc::key_unavailable,
                 "tenant '" + tenant.value() +
                     "' has erased numbers, which are recognised by their blind-index tag: give EngineOptions::blind_index");
}

}  // namespace

struct Engine::Impl {
    Impl(storage::StoreSet& s, const Clock& c, EngineOptions o)
        : stores(s), clock(c), options(std::move(o)), registry(s.optouts(), index),
          gate(index, c, options.gate), audience(gate, index, c), authorizer(options.policy),
          log(s.audit(), c), pseudonyms(options.audit_key.empty() ? random_key() : options.audit_key) {
        for (const std::string& b : options.marketing_stop_buttons)
            if (auto n = optout::KeywordClassifier::normalize(b)) marketing_buttons.push_back(*n);
    }

    storage::StoreSet& stores;
    const Clock& clock;
    EngineOptions options;
    messaging::SuppressionIndex index;
    optout::Registry registry;
    messaging::SendGate gate;
    messaging::Audience audience;
    optout::KeywordClassifier default_classifier;
    std::vector<std::string> marketing_buttons;
    rbac::Authorizer authorizer;
    audit::Log log;
    audit::PhonePseudonyms pseudonyms;  // under the audit key, keyed once

    // Erased numbers (privacy::): their opt-out histories by tag, per tenant, until the number
    // shows up again (a send check, an inbound message), when the history is replayed into the
    // index under the number. Guarded by tenants_mutex; any_erased spares every other engine the
    // lookup.
    std::unordered_map<TenantId, ErasedNumbers> erased;
    std::atomic<bool> any_erased{false};
    // Whether `tenant` holds erased numbers not seen again yet (any_erased alone would hold every
    // tenant to the blocking inbound path after one erasure anywhere).
    bool has_erased(const TenantId& tenant) {
        if (!any_erased.load()) return false;
        std::lock_guard lock(tenants_mutex);
        auto t = erased.find(tenant);
        return t != erased.end() && !t->second.empty();
    }

    // Whether `phone` is one of the tenant's erased numbers (rehydrate() would replay it); an
    // error when its tag cannot be computed.
    Result<bool> is_erased_number(const TenantId& tenant, const PhoneNumber& phone) {
        if (!has_erased(tenant)) return false;
        auto tag = tag_of(tenant, phone);  // outside the lock: an HMAC
        if (!tag) return tag.error();
        std::lock_guard lock(tenants_mutex);
        auto t = erased.find(tenant);
        return t != erased.end() && t->second.contains(*tag);
    }

    // on_inbound_async's writes whose completion has not finished: the engine waits for them
    // before it goes, since a completion uses the index.
    std::atomic<std::int64_t> inbound_pending{0};
    std::mutex inbound_mutex;
    std::condition_variable inbound_drained;
    // Counts one such write out when it goes, even if the caller's completion threw. Under the
    // lock: once ~Engine sees 0 it frees the engine, so the last completion must be done with it
    // (its notify) before ~Engine can look.
    struct InboundCountedOut {
        Impl& d;
        ~InboundCountedOut() {
            std::lock_guard lock(d.inbound_mutex);
            if (d.inbound_pending.fetch_sub(1, std::memory_order_acq_rel) == 1) d.inbound_drained.notify_all();
        }
    };

    // How an inbound message reads (on_inbound's first step): its keyword classification, and
    // the scope and method an event it causes would have.
    struct Reading {
        optout::Classification classification;
        optout::Scope scope = optout::Scope::all;
        optout::Method method = optout::Method::keyword;
    };
    Reading read(const InboundMessage& m) {
        Reading r;
        if (m.type == InboundMessage::Type::preference) {
            r.method = optout::Method::platform;
            r.scope = optout::Scope::marketing;
            const auto norm = optout::KeywordClassifier::normalize(m.text);
            if (norm == "stop") r.classification.intent = optout::Intent::opt_out;
            else if (norm == "resume") r.classification.intent = optout::Intent::opt_in;
            r.classification.keyword = m.text;
            return r;
        }
        r.classification = classifier(m.tenant).classify(m.text);
        if (m.type == InboundMessage::Type::button) {
            r.method = optout::Method::button;
            const auto norm = optout::KeywordClassifier::normalize(m.text);
            for (const std::string& b : marketing_buttons)
                if (norm == b) {
                    r.classification.intent = optout::Intent::opt_out;
                    r.classification.keyword = m.text;
                    r.scope = optout::Scope::marketing;
                }
        }
        return r;
    }

    std::mutex tenants_mutex;  // guards the maps below, not the work done under a tenant's lock
    // A tenant's write lock, and its opt-out events that on_inbound_async has queued and not yet
    // applied (under flight_mutex). Whoever takes the lock to change the tenant's facts waits for
    // those first (lock_tenant), so that it sees them, as it would have waited for on_inbound.
    struct TenantLock {
        std::mutex mutex;
        std::int64_t events_in_flight = 0;
    };
    std::unordered_map<TenantId, std::unique_ptr<TenantLock>> write_locks;
    std::mutex flight_mutex;  // held only to count; never while waiting for anything else
    std::condition_variable flight_landed;
    std::unordered_map<TenantId, optout::KeywordClassifier> classifiers;
    // Opt-outs the store refused: they block sends from memory, are re-applied after every reload
    // (which would otherwise forget them) and are written again at each load until stored.
    std::unordered_map<TenantId, std::vector<optout::OptOutEvent>> unpersisted;
    // When a tenant's facts could not be loaded: no new attempt before this time, so a store
    // outage does not turn every send check into a full reload.
    struct Backoff {
        Timestamp next{};
        std::chrono::milliseconds delay{0};
    };
    std::unordered_map<TenantId, Backoff> load_backoff;
    static constexpr std::chrono::milliseconds first_backoff{250}, max_backoff{5000};
    // The last sequence read from each loaded tenant's log (by a load or a catch-up): the next
    // catch-up reads what follows. A tenant is in the map once loaded.
    std::unordered_map<TenantId, std::int64_t> watermarks;

    // Currency (EngineOptions::shared). Guards the feed's state and every marking of a tenant as
    // current, so that a catch-up that began before the feed was lost never marks a tenant
    // current after the loss.
    std::mutex currency_mutex;
    bool feed_connected = false;
    std::uint64_t feed_epoch = 0;  // counts feed losses

    // The background catch-up (SharedStoreOptions::recheck_interval). Declared last: it stops
    // before the members it uses are destroyed.
    std::jthread rechecker;

    TenantLock& tenant_lock(const TenantId& tenant) {
        std::lock_guard lock(tenants_mutex);
        auto& t = write_locks[tenant];
        if (!t) t = std::make_unique<TenantLock>();
        return *t;
    }

    // The tenant's write lock, taken once every opt-out event on_inbound_async queued for the
    // tenant has been applied (or failed). A completion never takes this lock, so waiting here,
    // lock held, cannot hold up the store thread that runs the completions.
    std::unique_lock<std::mutex> lock_tenant(const TenantId& tenant) {
        TenantLock& t = tenant_lock(tenant);
        std::unique_lock lock(t.mutex);
        std::unique_lock flight(flight_mutex);
        flight_landed.wait(flight, [&] { return t.events_in_flight == 0; });
        return lock;
    }

    void event_landed(TenantLock& t) {
        std::lock_guard flight(flight_mutex);
        if (--t.events_in_flight == 0) flight_landed.notify_all();
    }

    optout::KeywordClassifier classifier(const TenantId& tenant) {
        std::lock_guard lock(tenants_mutex);
        auto it = classifiers.find(tenant);
        return it == classifiers.end() ? default_classifier : it->second;
    }

    // Loads the tenant's facts; the caller holds the tenant's write lock.
    Result<void> load(const TenantId& tenant) {
        const auto token = currency_token();
        mark_not_current(tenant);  // until settled below: never ready and wrongly current, not even briefly
        index.clear(tenant);
        auto fail = [&](const Error& e) -> Result<void> {
            index.clear(tenant);
            return e;
        };
        if (auto r = load_optouts(tenant); !r) return fail(r.error());
        {
            // Taken out and written without tenants_mutex: a store write may wait for the store's
            // thread, whose completions (opt_out_async's) take that mutex. The tenant's lock is
            // held and nothing of the tenant is in flight, so nobody adds to its list meanwhile
            // but this load; what fails goes back in front of anything added since.
            std::vector<optout::OptOutEvent> pending;
            {
                std::lock_guard lock(tenants_mutex);
                pending.swap(unpersisted[tenant]);
            }
            std::erase_if(pending, [&](optout::OptOutEvent& e) {
                index.apply(e);
                auto stored = store_event_unlocked(e);
                return stored.has_value();  // stored now, or found already stored
            });
            if (!pending.empty()) {
                std::lock_guard lock(tenants_mutex);
                auto& list = unpersisted[tenant];
                list.insert(list.begin(), std::make_move_iterator(pending.begin()), std::make_move_iterator(pending.end()));
            }
        }
        if (auto r = stores.consents().scan(tenant, [&](const storage::ConsentRecord& c) {
                index.set_consent(tenant, c.phone, c.granted);
            });
            !r)
            return fail(r.error());
        if (auto r = stores.activity().scan(tenant, [&](const PhoneNumber& p, Timestamp at) {
                index.touch_inbound(tenant, p, at);
            });
            !r)
            return fail(r.error());
        storage::Page page{"", 1000};
        while (true) {
            auto batch = stores.contacts().list(tenant, page);
            if (!batch) return fail(batch.error());
            for (const storage::Contact& c : *batch)
                if (c.restricted && !c.deleted_at) index.set_restricted(tenant, c.phone, true);
            if (batch->size() < page.limit) break;
            page.after = batch->back().id.value();
        }
        index.mark_ready(tenant, true);
        settle_currency(tenant, token);
        // The feed connected while this load was reading: its catch-up of the loaded tenants may
        // have missed this one, so read what followed now, with the feed known to be listening.
        if (options.shared.enabled && !token && feed_is_connected()) (void)catch_up_locked(tenant);
        return {};
    }

    bool feed_is_connected() {
        std::lock_guard lock(currency_mutex);
        return feed_connected;
    }

    // ---- currency (EngineOptions::shared) ----

    // Taken before reading the store: the feed's epoch if a catch-up that begins now may mark a
    // tenant current when it ends (the feed is connected, or there is none), nullopt otherwise.
    std::optional<std::uint64_t> currency_token() {
        std::lock_guard lock(currency_mutex);
        if (options.shared.change_feed && !feed_connected) return std::nullopt;
        return feed_epoch;
    }

    // After a successful read of the tenant's log: current if the feed has not been lost since
    // `token` was taken. Only a shared store's engine marks anything.
    void settle_currency(const TenantId& tenant, std::optional<std::uint64_t> token) {
        if (!options.shared.enabled) return;
        std::lock_guard lock(currency_mutex);
        const bool feed_ok = !options.shared.change_feed || (feed_connected && token && *token == feed_epoch);
        index.mark_current(tenant, token.has_value() && feed_ok);
    }

    void mark_not_current(const TenantId& tenant) {
        if (!options.shared.enabled) return;
        std::lock_guard lock(currency_mutex);
        index.mark_current(tenant, false);
    }

    std::int64_t watermark(const TenantId& tenant) {
        std::lock_guard lock(tenants_mutex);
        auto it = watermarks.find(tenant);
        return it == watermarks.end() ? -1 : it->second;
    }

    std::vector<TenantId> loaded_tenants() {
        std::lock_guard lock(tenants_mutex);
        std::vector<TenantId> out;
        out.reserve(watermarks.size());
        for (const auto& [tenant, sequence] : watermarks) out.push_back(tenant);
        return out;
    }

    // Reads the tenant's log after its watermark and applies it; the caller holds the tenant's
    // write lock. Rows are collected first and applied after the store returns, so that no engine
    // lock is taken inside a store's visitor.
    Result<std::size_t> catch_up_locked(const TenantId& tenant) {
        std::int64_t after = 0;
        {
            std::lock_guard lock(tenants_mutex);
            auto it = watermarks.find(tenant);
            if (it == watermarks.end()) return std::size_t{0};
            after = it->second;
        }
        if (!index.ready(tenant)) return std::size_t{0};  // invalidated: the next use reloads it whole
        const auto token = currency_token();
        std::vector<std::variant<optout::OptOutEvent, optout::ErasedOptOutEvent>> rows;
        auto scanned = stores.optouts().scan_since(
            tenant, after, [&](const optout::OptOutEvent& e) { rows.emplace_back(e); },
            [&](const optout::ErasedOptOutEvent& e) { rows.emplace_back(e); });
        auto applied = apply_rows(tenant, rows);
        if (!scanned || !applied) {
            mark_not_current(tenant);
            return scanned ? applied.error() : scanned.error();
        }
        settle_currency(tenant, token);
        return rows.size();
    }

    // Applies rows of the tenant's log in order and moves its watermark past the last one applied.
    // An event of a number erased in this batch or before is applied after the number's erased
    // history, as at load.
    Result<void> apply_rows(const TenantId& tenant,
                            const std::vector<std::variant<optout::OptOutEvent, optout::ErasedOptOutEvent>>& rows) {
        ErasedNumbers fresh;
        std::int64_t last = -1;
        std::optional<Error> failed;
        for (const auto& row : rows) {
            if (const auto* erased_event = std::get_if<optout::ErasedOptOutEvent>(&row)) {
                fresh[erased_event->tag].push_back(*erased_event);
                last = erased_event->sequence;
                continue;
            }
            const auto& e = std::get<optout::OptOutEvent>(row);
            if (auto r = rehydrate_before(tenant, e.phone, fresh); !r) {
                failed = r.error();
                break;
            }
            index.apply(e);
            last = e.sequence;
        }
        std::lock_guard lock(tenants_mutex);
        if (!fresh.empty()) {
            auto& known = erased[tenant];
            for (auto& [tag, history] : fresh) {
                auto& kept = known[tag];
                kept.insert(kept.end(), history.begin(), history.end());
                std::stable_sort(kept.begin(), kept.end(),
                                 [](const auto& a, const auto& b) { return a.sequence < b.sequence; });
            }
            any_erased.store(true);
        }
        if (last >= 0) {
            auto& mark = watermarks[tenant];
            mark = std::max(mark, last);
        }
        if (failed) return *failed;
        return {};
    }

    // Before an event of `phone` is applied: replays the number's erased history, from this
    // batch (`fresh`) or from earlier, if it has one.
    Result<void> rehydrate_before(const TenantId& tenant, const PhoneNumber& phone, ErasedNumbers& fresh) {
        if (!fresh.empty()) {
            auto tag = tag_of(tenant, phone);
            if (!tag) return tag.error();
            if (auto it = fresh.find(*tag); it != fresh.end()) {
                if (auto r = rehydrate(tenant, phone); !r) return r.error();  // older history first
                replay(it->second, phone);
                fresh.erase(it);
                return {};
            }
        }
        if (auto r = rehydrate(tenant, phone); !r) return r.error();
        return {};
    }

    // Replays the erased history of a number into the index under `phone`, and uses up the
    // confirmation: an erased contact is never sent one for an old opt-out.
    void replay(const std::vector<optout::ErasedOptOutEvent>& history, const PhoneNumber& phone) {
        for (const optout::ErasedOptOutEvent& h : history) {
            optout::OptOutEvent e{h.tenant, phone};
            e.kind = h.kind;
            e.scope = h.scope;
            e.method = h.method;
            e.at = h.at;
            e.trigger = h.trigger;
            e.channel = h.channel;
            e.sequence = h.sequence;
            index.apply(e);
        }
        (void)index.claim_confirmation(history.front().tenant, phone, Timestamp::min());
    }

    Result<optout::NumberTag> tag_of(const TenantId& tenant, const PhoneNumber& phone) const {
        if (options.blind_index == nullptr) return no_blind_index(tenant);
        return options.blind_index->phone(tenant, phone);
    }

    // The tenant's opt-out events into the index, erased ones included: a number that came back
    // after its erasure (a later event under the number) gets its erased history replayed first.
    // Caller holds the tenant's write lock.
    Result<void> load_optouts(const TenantId& tenant) {
        ErasedNumbers fresh;
        std::optional<Error> failed;
        std::int64_t last = 0;
        // One pass in sequence order: a number's erased events all precede any later event under
        // the number (erasure takes every event it has), so its history is known when one comes.
        auto r = stores.optouts().scan_since(
            tenant, 0,
            [&](const optout::OptOutEvent& e) {
                if (failed) return;
                last = std::max(last, e.sequence);
                if (!fresh.empty()) {
                    auto tag = tag_of(tenant, e.phone);
                    if (!tag) {
                        failed = tag.error();
                        return;
                    }
                    if (auto it = fresh.find(*tag); it != fresh.end()) {
                        replay(it->second, e.phone);
                        fresh.erase(it);
                    }
                }
                index.apply(e);
            },
            [&](const optout::ErasedOptOutEvent& e) {
                last = std::max(last, e.sequence);
                fresh[e.tag].push_back(e);
            });
        if (!r) return r;
        if (failed) return *failed;
        if (!fresh.empty() && options.blind_index == nullptr) return no_blind_index(tenant);
        std::lock_guard lock(tenants_mutex);
        if (!fresh.empty()) any_erased.store(true);
        erased.insert_or_assign(tenant, std::move(fresh));
        watermarks.insert_or_assign(tenant, last);
        return {};
    }

    // If `phone` is an erased number of the tenant, replays its history into the index (and
    // forgets the tag: the index holds it now). Returns whether it was one.
    Result<bool> rehydrate(const TenantId& tenant, const PhoneNumber& phone) {
        if (!has_erased(tenant)) return false;
        auto tag = tag_of(tenant, phone);  // outside the lock: an HMAC
        if (!tag) return tag.error();
        std::lock_guard lock(tenants_mutex);
        auto t = erased.find(tenant);
        if (t == erased.end()) return false;
        auto it = t->second.find(*tag);
        if (it == t->second.end()) return false;
        replay(it->second, phone);  // before the tag goes, so that no reader finds neither
        t->second.erase(it);
        return true;
    }

    Result<void> ensure_loaded(const TenantId& tenant) {
        if (index.ready(tenant)) return {};
        auto lock = lock_tenant(tenant);
        if (index.ready(tenant)) return {};
        const Timestamp now = clock.now();
        {
            std::lock_guard guard(tenants_mutex);
            if (auto it = load_backoff.find(tenant); it != load_backoff.end() && now < it->second.next)
                return {storage::StorageErrc::unavailable, "the tenant's facts could not be loaded; next attempt at " +
                                                               to_iso8601(it->second.next)};
        }
        auto loaded = load(tenant);
        std::lock_guard guard(tenants_mutex);
        if (loaded) {
            load_backoff.erase(tenant);
        } else {
            Backoff& b = load_backoff[tenant];
            b.delay = b.delay.count() == 0 ? first_backoff : std::min(b.delay * 2, max_backoff);
            b.next = now + b.delay;
        }
        return loaded;
    }

    // Appends to the store only (the caller applies to the index). Caller holds tenants_mutex or
    // the tenant's write lock as needed.
    Result<bool> store_event_unlocked(optout::OptOutEvent& e) { return stores.optouts().append(e); }

    // Records through the registry; an opt-out the store refused is kept to be re-applied and
    // written again later. Caller holds the tenant's write lock.
    Result<bool> record_event(optout::OptOutEvent& event) {
        auto stored = options.shared.enabled ? record_shared(event) : registry.record(event);
        if (!stored && event.kind == optout::EventKind::opt_out) keep_unpersisted(event);
        return stored;
    }

    // With other writers, events of theirs may sit between this engine's watermark and its own
    // new event: applying ours alone could leave an older event of theirs to be applied after it
    // (a START after our STOP). So the append is followed by a catch-up that applies everything
    // since the watermark, ours included, in the log's order. Caller holds the tenant's lock.
    Result<bool> record_shared(optout::OptOutEvent& event) {
        auto stored = stores.optouts().append(event);
        if (!stored) {
            if (event.kind == optout::EventKind::opt_out) index.apply(event);  // fail closed at once
            return stored.error();
        }
        // Not stored: another instance recorded the same provider message; the catch-up brings it.
        (void)catch_up_locked(event.tenant);  // a failure marks the tenant not current
        if (*stored && watermark(event.tenant) < event.sequence) index.apply(event);  // not read back
        return *stored;
    }

    Result<optout::OptOutEvent> record(optout::OptOutEvent event) {
        if (auto loaded = ensure_loaded(event.tenant); !loaded && event.kind == optout::EventKind::opt_in)
            return loaded.error();
        auto lock = lock_tenant(event.tenant);
        auto stored = record_event(event);
        if (!stored) return stored.error();
        return event;
    }

    optout::OptOutEvent make_event(const TenantId& tenant, const PhoneNumber& phone, optout::EventKind kind,
                                   optout::Method method, optout::Scope scope, std::string trigger) const {
        optout::OptOutEvent e{tenant, phone};
        e.kind = kind;
        e.method = method;
        e.scope = scope;
        e.at = clock.now();
        e.trigger = std::move(trigger);
        return e;
    }

    /// The contact with this number as the policy sees it, and how the audit trail names it: its
    /// id, or a keyed pseudonym of the number when there is no contact.
    struct ContactTarget {
        rbac::Resource resource;
        std::string audit_id;
    };
    Result<ContactTarget> contact_target(const TenantId& tenant, const PhoneNumber& phone) {
        auto found = stores.contacts().find_by_phone(tenant, phone);
        if (!found) return found.error();
        ContactTarget target{rbac::Resource{rbac::ResourceType::contact, tenant}, {}};
        if (*found) {
            const storage::Contact& c = **found;
            target.resource.id = c.id.value();
            target.resource.assignee = c.assignee;
            target.resource.team = c.team;
            target.audit_id = c.id.value();
        } else {
            target.audit_id = pseudonyms(phone);
        }
        return target;
    }

    /// Appends the audit entry of a principal's attempt on `tenant`'s data.
    Result<void> audit_attempt(const TenantId& tenant, const rbac::Principal& by, std::string action,
                               std::string target_type, std::string target_id, Reason outcome, std::string_view rule,
                               std::string_view revision, std::string_view request_id) {
        audit::Entry e;
        e.tenant = tenant;
        e.actor = audit::Actor::member(by.user, by.role);
        e.action = std::move(action);
        e.target_type = std::move(target_type);
        e.target_id = std::move(target_id);
        e.outcome = outcome;
        e.rule = rule;
        e.request_id = request_id;
        e.policy_revision = revision;
        auto stored = log.append(std::move(e));
        if (!stored) return stored.error();
        return {};
    }

    /// Authorize → audit → act for an opt-out recorded by a team member or an API client.
    Result<Attempt<optout::OptOutEvent>> principal_preference(const TenantId& tenant, const rbac::Principal& by,
                                                           const PhoneNumber& phone, OptOutRequest request,
                                                           optout::Method method,
                                                           optout::EventKind kind = optout::EventKind::opt_out) {
        auto target = contact_target(tenant, phone);
        if (!target) return target.error();
        rbac::AccessDecision access = authorizer.check(by, rbac::Action::update, target->resource);
        const std::string action = std::string(kind == optout::EventKind::opt_out ? "opt_out." : "opt_in.") +
                                   (method == optout::Method::api ? "api" : "manual");
        if (auto audited = audit_attempt(tenant, by, action, "contact", target->audit_id, access.reason(),
                                         access.rule(), access.revision(), request.request_id);
            !audited)
            return audited.error();
        Attempt<optout::OptOutEvent> attempt{std::move(access), std::nullopt};
        if (!attempt.allowed()) return attempt;
        auto e = make_event(tenant, phone, kind, method, request.scope, std::move(request.note));
        e.actor = by.user;
        e.channel = method == optout::Method::api ? "api" : "dashboard";
        auto stored = record(std::move(e));
        if (!stored) return stored.error();
        attempt.value = std::move(stored).value();
        return attempt;
    }

    // on_inbound for an opt-out keyword, on a thread that must not wait: the sender's time and
    // the event are queued one after the other (so they usually share a group commit), the event is
    // applied to the index when its write is done (or, if it failed, at once and kept to be written
    // again, as record_event does), and `done` hears the outcome on the store's thread. Taken only
    // when nothing else can come between: the engine does not share its store (that needs a
    // catch-up after each append), and the tenant's lock is free, so no event of the tenant is
    // being recorded the blocking way. Whoever takes the lock next waits for this event to land
    // (lock_tenant): an opt-in that follows a STOP sees the STOP, as with on_inbound. False, with
    // nothing done and `done` untouched, when it cannot be taken.
    bool opt_out_async(const InboundMessage& m, Reading reading, InboundDone& done) {
        if (options.shared.enabled || m.type == InboundMessage::Type::preference) return false;
        TenantLock& t = tenant_lock(m.tenant);
        std::unique_lock lock(t.mutex, std::try_to_lock);
        if (!lock.owns_lock()) return false;  // an event of the tenant is being recorded: wait on the blocking path
        // An erasure may have finished since on_inbound_async looked: its history is replayed
        // under the lock (rehydrate), on the blocking path.
        if (has_erased(m.tenant)) return false;

        struct Op {
            Op(Impl& impl, TenantLock& lock, optout::OptOutEvent e) : d(impl), t(lock), event(std::move(e)) {}
            Impl& d;
            TenantLock& t;
            optout::OptOutEvent event;
            InboundOutcome out;
            InboundDone done;
            std::mutex mutex;  // guards `error`: the two parts may finish on different threads
            std::optional<Error> error;
            std::atomic<int> parts{2};
            std::atomic<bool> landed{false};  // counted out of the tenant's events in flight (once)
            bool abandoned = false;  // the event was not taken: `done` went back to the caller

            // Once only, even if a host's store both throws from append_async and calls back.
            void land() {
                if (!landed.exchange(true)) d.event_landed(t);
            }

            void fail(const Error& e) {
                std::lock_guard guard(mutex);
                if (!error) error = e;
            }
            void finish_part() {
                if (parts.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
                InboundCountedOut counted_out{d};
                if (abandoned) return;
                if (error) return done(std::move(*error));
                done(std::move(out));
            }
        };
        auto op = std::make_shared<Op>(*this, t, event_for(m, reading.scope, reading.method, reading.classification.keyword,
                                                          optout::EventKind::opt_out, m.at.value_or(clock.now())));
        op->out.classification = std::move(reading.classification);

        inbound_pending.fetch_add(1, std::memory_order_relaxed);
        bool time_taken = false;
        try {
            time_taken = stores.activity().record_inbound_async(
                m.tenant, m.from, op->event.at, [op](Result<void> stored) {
                    if (stored) op->d.index.touch_inbound(op->event.tenant, op->event.phone, op->event.at);
                    else op->fail(stored.error());
                    op->finish_part();
                });
        } catch (...) {  // a host's store that throws instead of failing
            inbound_pending.fetch_sub(1, std::memory_order_acq_rel);
            throw;
        }
        if (!time_taken) {
            inbound_pending.fetch_sub(1, std::memory_order_acq_rel);
            return false;
        }
        {
            std::lock_guard flight(flight_mutex);
            ++t.events_in_flight;
        }
        op->done = std::move(done);
        bool event_taken = false;
        try {
            event_taken = stores.optouts().append_async(op->event, [op](Result<std::int64_t> stored) {
                Op& o = *op;
                if (!stored) {  // as record_event: it blocks sends from memory at once
                    o.d.index.apply(o.event);
                    o.d.keep_unpersisted(o.event);
                    o.fail(stored.error());
                } else if (*stored == 0) {
                    o.out.duplicate = true;  // a redelivery: recorded before, nothing changes
                } else {
                    o.event.sequence = *stored;
                    o.d.index.apply(o.event);
                    o.out.event = o.event;
                    o.d.confirm_opt_out(o.out, InboundMessage::Type::text);  // preferences never come here
                }
                o.land();
                o.finish_part();
            });
        } catch (...) {  // a host's store that throws instead of failing: as not taken
            event_taken = false;
        }
        if (!event_taken) {
            // The time is queued and will be stored; the event goes the blocking way, from the caller.
            done = std::move(op->done);
            op->abandoned = true;
            op->land();
            op->finish_part();
            return false;
        }
        return true;
    }

    // The event an inbound message causes, as read (its kind decided by the caller; `keyword` the
    // classification's).
    static optout::OptOutEvent event_for(const InboundMessage& m, optout::Scope scope, optout::Method method,
                                         const std::string& keyword, optout::EventKind kind, Timestamp at) {
        optout::OptOutEvent event{m.tenant, m.from};
        event.kind = kind;
        event.scope = scope;
        event.method = method;
        event.at = at;
        event.trigger = m.type == InboundMessage::Type::text ? keyword : m.text;
        event.channel = m.channel;
        event.provider_message_id = m.provider_message_id;
        return event;
    }

    // The reply to a message whose opt-out was stored: a platform preference change is not a
    // message to answer; a marketing-only tap gets a confirmation that says only promotions stop.
    void confirm_opt_out(InboundOutcome& out, InboundMessage::Type type) const {
        if (type == InboundMessage::Type::preference) return;
        out.reply = out.event->scope == optout::Scope::marketing ? options.replies.marketing_optout_confirmation
                                                                 : confirmation_for(out.classification.language);
        out.reply_kind = messaging::MessageKind::optout_confirmation;
    }

    // An opt-out the store refused: kept to be written again at the next load (it blocks sends
    // from memory meanwhile: the caller applied it).
    void keep_unpersisted(const optout::OptOutEvent& event) {
        std::lock_guard lock(tenants_mutex);
        unpersisted[event.tenant].push_back(event);
    }

    std::string confirmation_for(const std::string& language) const {
        const auto& texts = options.replies.optout_confirmation;
        if (auto it = texts.find(language); it != texts.end()) return it->second;
        if (auto it = texts.find("en"); it != texts.end()) return it->second;
        return {};
    }
};

Engine::Engine(storage::StoreSet& stores, const Clock& clock, EngineOptions options)
    : impl_(std::make_unique<Impl>(stores, clock, std::move(options))) {
    const SharedStoreOptions& shared = impl_->options.shared;
    if (!shared.enabled || shared.recheck_interval <= std::chrono::milliseconds::zero()) return;
    // Wall time, not the injected Clock: this paces I/O, it decides nothing.
    impl_->rechecker = std::jthread([this, every = shared.recheck_interval,
                                     reload_every = shared.facts_reload_interval](std::stop_token stop) {
        std::mutex m;
        std::condition_variable_any wake;
        std::unique_lock lock(m);
        auto last_reload = std::chrono::steady_clock::now();
        while (!wake.wait_for(lock, stop, every, [&] { return stop.stop_requested(); })) {
            // Consent records and restrictions are not in the opt-out log a catch-up reads: a full
            // reload now and then is their safety net (a per-tenant revision would need a new
            // column and port in every store for a rare event; the feed carries them promptly).
            const auto now = std::chrono::steady_clock::now();
            if (reload_every > std::chrono::milliseconds::zero() && now - last_reload >= reload_every) {
                last_reload = now;
                (void)reload_all();
            } else {
                (void)catch_up_all();
            }
        }
    });
}

Engine::~Engine() {
    // The background catch-up uses the engine: stop it before anything is torn down.
    if (impl_->rechecker.joinable()) {
        impl_->rechecker.request_stop();
        impl_->rechecker.join();
    }
    // So do the completions of on_inbound_async's writes: the store runs each of them.
    std::unique_lock lock(impl_->inbound_mutex);
    impl_->inbound_drained.wait(lock, [this] { return impl_->inbound_pending.load() == 0; });
}

Result<void> Engine::warm(const TenantId& tenant) {
    auto lock = impl_->lock_tenant(tenant);
    return impl_->load(tenant);
}

void Engine::set_keywords(const TenantId& tenant, optout::KeywordClassifier classifier) {
    std::lock_guard lock(impl_->tenants_mutex);
    impl_->classifiers.insert_or_assign(tenant, std::move(classifier));
}

Result<InboundOutcome> Engine::on_inbound(const InboundMessage& m) {
    Impl& d = *impl_;
    if (m.tenant.empty()) return {storage::StorageErrc::invalid_argument, "inbound message without a tenant"};
    const Timestamp at = m.at.value_or(d.clock.now());
    InboundOutcome out;

    // Classify first: an opt-out must take effect even if the rest of the bookkeeping fails.
    Impl::Reading reading = d.read(m);
    out.classification = std::move(reading.classification);
    const optout::Scope scope = reading.scope;
    const optout::Method method = reading.method;

    auto loaded = d.ensure_loaded(m.tenant);
    // Only a change of status takes the tenant's write lock (its events reach the store and the
    // index in one order); the 24-hour window below needs none, as the store and the index both
    // keep the latest time, so ordinary messages of a tenant are stored concurrently. A tenant
    // with erased numbers also locks: an erased number that writes again is known by its history
    // (so START re-subscribes it); if the tag cannot be computed, check_send still fails closed.
    std::unique_lock<std::mutex> lock;
    if (out.classification.intent == optout::Intent::opt_out || out.classification.intent == optout::Intent::opt_in ||
        d.any_erased.load()) {
        lock = d.lock_tenant(m.tenant);
        (void)d.rehydrate(m.tenant, m.from);
    }
    const messaging::ContactFacts facts = d.index.find(m.tenant, m.from).facts;

    std::optional<optout::EventKind> wants_event;
    if (out.classification.intent == optout::Intent::opt_out) {
        wants_event = optout::EventKind::opt_out;
    } else if (out.classification.intent == optout::Intent::opt_in) {
        // Both START and a marketing "resume" matter only to someone blocked from something.
        const bool blocked = facts.marketing_opted_out();
        if (!loaded) return loaded.error();  // cannot tell whether they are opted out: change nothing
        if (blocked) wants_event = optout::EventKind::opt_in;
        if (!blocked && out.classification.conditional) out.classification = {};  // a plain "yes"
    }

    if (wants_event) {
        optout::OptOutEvent event = Impl::event_for(m, scope, method, out.classification.keyword, *wants_event, at);
        auto stored = d.record_event(event);
        if (!stored) return stored.error();
        out.duplicate = !*stored;
        if (*stored) out.event = event;
    }
    if (lock.owns_lock()) lock.unlock();

    if (auto r = d.stores.activity().record_inbound(m.tenant, m.from, at); !r) return r.error();
    d.index.touch_inbound(m.tenant, m.from, at);
    if (!loaded) return loaded.error();

    if (out.event) {
        if (out.event->kind == optout::EventKind::opt_out) {
            d.confirm_opt_out(out, m.type);
        } else if (m.type != InboundMessage::Type::preference) {
            out.reply = d.options.replies.optin_confirmation;
        }
    } else if (!out.duplicate && out.classification.intent == optout::Intent::help) {
        out.reply = d.options.replies.help;
    }
    return out;
}

bool Engine::on_inbound_async(const InboundMessage& m, InboundDone&& done) {
    Impl& d = *impl_;
    if (m.tenant.empty()) return false;
    // Only what needs no read: a tenant not loaded needs one; an erased number of the tenant is
    // known by its history, which takes the tenant's lock; an opt-in depends on whether the sender
    // is opted out, help asks nothing of the store (on_inbound does all of these). An opt-out is
    // recorded without waiting too (opt_out_async), when nothing else is changing the tenant.
    if (!d.index.ready(m.tenant)) return false;
    if (auto erased = d.is_erased_number(m.tenant, m.from); !erased || *erased) return false;
    Impl::Reading reading = d.read(m);
    if (reading.classification.intent == optout::Intent::opt_out) return d.opt_out_async(m, std::move(reading), done);
    if (reading.classification.intent != optout::Intent::none) return false;

    // What the completion needs, owned apart from the store's callback so that `done` can be
    // handed back untouched if the store does not take the write.
    struct Pending {
        Impl& d;
        TenantId tenant;
        PhoneNumber from;
        Timestamp at;
        optout::Classification classification;
        InboundDone done;
    };
    auto pending = std::make_shared<Pending>(Pending{d, m.tenant, m.from, m.at.value_or(d.clock.now()), {}, std::move(done)});
    pending->classification = std::move(reading.classification);
    d.inbound_pending.fetch_add(1, std::memory_order_relaxed);
    storage::ActivityStore::WriteDone written = [pending](Result<void> stored) {
        Impl& d = pending->d;
        Impl::InboundCountedOut counted_out{d};
        if (!stored) return pending->done(stored.error());
        d.index.touch_inbound(pending->tenant, pending->from, pending->at);  // as on_inbound: once stored
        InboundOutcome out;
        out.classification = std::move(pending->classification);
        pending->done(std::move(out));
    };
    bool taken = false;
    try {
        taken = d.stores.activity().record_inbound_async(m.tenant, m.from, pending->at, std::move(written));
    } catch (...) {  // a host's store that throws instead of failing: count it out, or ~Engine waits forever
        d.inbound_pending.fetch_sub(1, std::memory_order_acq_rel);
        throw;
    }
    if (taken) return true;
    d.inbound_pending.fetch_sub(1, std::memory_order_acq_rel);
    done = std::move(pending->done);  // not taken: the caller keeps it
    return false;
}

Decision Engine::check_send(const TenantId& tenant, const PhoneNumber& to, messaging::MessageKind kind) {
    Impl& d = *impl_;
    Decision decision = d.gate.check(tenant, to, kind);
    if (decision.reason() == Reason::store_unavailable) {
        if (!d.ensure_loaded(tenant)) return decision;
        decision = d.gate.check(tenant, to, kind);
    }
    if (d.any_erased.load()) {
        auto erased = d.rehydrate(tenant, to);
        if (!erased)
            return Decision::deny(Reason::store_unavailable,
                                  "Blocked: whether this number was erased could not be checked (blind index failed).",
                                  "privacy.erased_unknown");
        if (*erased) decision = d.gate.check(tenant, to, kind);
    }
    if (decision.allowed() && kind == messaging::MessageKind::optout_confirmation &&
        !d.index.claim_confirmation(tenant, to, d.clock.now() - d.options.gate.confirmation_window))
        return d.gate.check(tenant, to, kind);  // claimed meanwhile by another sender: now denied
    return decision;
}

messaging::AudienceResult Engine::filter_audience(const TenantId& tenant, std::span<const PhoneNumber> contacts,
                                                  messaging::MessageKind kind) {
    Impl& d = *impl_;
    (void)d.ensure_loaded(tenant);  // on failure every contact is excluded as store_unavailable
    if (d.any_erased.load())
        for (const PhoneNumber& p : contacts)
            if (!d.rehydrate(tenant, p)) {
                d.index.mark_ready(tenant, false);  // cannot tell erased numbers apart: exclude all, reload later
                break;
            }
    return d.audience.filter(tenant, contacts, kind);
}

Decision Engine::check_send(const TenantId& tenant, const rbac::Principal& by, const PhoneNumber& to,
                            messaging::MessageKind kind, std::string_view request_id) {
    Impl& d = *impl_;
    const auto unaudited = [] {
        return Decision::deny(Reason::store_unavailable,
                              "Not sent: the audit trail could not be written, so nothing may be sent now.",
                              "audit.unavailable");
    };
    try {
        auto target = d.contact_target(tenant, to);
        if (!target)
            return Decision::deny(Reason::store_unavailable,
                                  "Not sent: the contact could not be looked up, so the send was not allowed.",
                                  "store.unavailable");
        const std::string action = "send." + std::string(messaging::to_string(kind));
        const rbac::AccessDecision access = d.authorizer.check(by, rbac::Action::send, target->resource);
        if (!access) {
            if (!d.audit_attempt(tenant, by, action, "contact", target->audit_id, access.reason(), access.rule(),
                                 access.revision(), request_id))
                return unaudited();
            return access.to_decision();
        }
        Decision decision = check_send(tenant, to, kind);
        const std::string rule = decision.allowed() ? std::string(access.rule()) : decision.rule();
        if (!d.audit_attempt(tenant, by, action, "contact", target->audit_id, decision.reason(), rule,
                             access.revision(), request_id))
            return unaudited();
        return decision;
    } catch (const std::exception&) {
        return unaudited();
    }
}

Decision Engine::check_system_send(const TenantId& tenant, const PhoneNumber& to, messaging::MessageKind kind,
                                   std::string_view request_id) {
    Impl& d = *impl_;
    const auto unaudited = [] {
        return Decision::deny(Reason::store_unavailable,
                              "Not sent: the audit trail could not be written, so nothing may be sent now.",
                              "audit.unavailable");
    };
    try {
        auto target = d.contact_target(tenant, to);
        if (!target)
            return Decision::deny(Reason::store_unavailable,
                                  "Not sent: the contact could not be looked up, so the send was not allowed.",
                                  "store.unavailable");
        Decision decision = check_send(tenant, to, kind);
        audit::Entry e;
        e.tenant = tenant;
        e.actor = audit::Actor::system();
        e.action = "send." + std::string(messaging::to_string(kind));
        e.target_type = "contact";
        e.target_id = target->audit_id;
        e.outcome = decision.reason();
        e.rule = decision.rule();
        e.request_id = request_id;
        if (!d.log.append(std::move(e))) return unaudited();
        return decision;
    } catch (const std::exception&) {
        return unaudited();
    }
}

void Engine::note_window_closed(const TenantId& tenant, const PhoneNumber& phone, Timestamp at) {
    impl_->index.close_window(tenant, phone, at);
}

Result<Attempt<optout::OptOutEvent>> Engine::opt_out_manually(const TenantId& tenant, const rbac::Principal& by,
                                                              const PhoneNumber& phone, OptOutRequest request) {
    return impl_->principal_preference(tenant, by, phone, std::move(request), optout::Method::manual);
}

Result<Attempt<optout::OptOutEvent>> Engine::opt_out_via_api(const TenantId& tenant, const rbac::Principal& by,
                                                             const PhoneNumber& phone, OptOutRequest request) {
    return impl_->principal_preference(tenant, by, phone, std::move(request), optout::Method::api);
}

Result<Attempt<optout::OptOutEvent>> Engine::opt_in_manually(const TenantId& tenant, const rbac::Principal& by,
                                                             const PhoneNumber& phone, OptOutRequest request) {
    return impl_->principal_preference(tenant, by, phone, std::move(request), optout::Method::manual,
                                    optout::EventKind::opt_in);
}

Result<Attempt<optout::OptOutEvent>> Engine::opt_in_via_api(const TenantId& tenant, const rbac::Principal& by,
                                                            const PhoneNumber& phone, OptOutRequest request) {
    return impl_->principal_preference(tenant, by, phone, std::move(request), optout::Method::api,
                                    optout::EventKind::opt_in);
}

Result<rbac::AccessDecision> Engine::authorize(const rbac::Principal& by, rbac::Action action,
                                               const rbac::Resource& resource, std::string_view request_id) {
    rbac::AccessDecision access = impl_->authorizer.check(by, action, resource);
    // The trail of the tenant whose data it is; a resource without a tenant is recorded in the
    // principal's.
    const TenantId& tenant = resource.tenant.empty() ? by.tenant : resource.tenant;
    if (auto audited = impl_->audit_attempt(tenant, by, std::string(rbac::to_string(action)),
                                            std::string(rbac::to_string(resource.type)), resource.id,
                                            access.reason(), access.rule(), access.revision(), request_id);
        !audited)
        return audited.error();
    return access;
}

Result<optout::OptOutEvent> Engine::record_platform_optout(const TenantId& tenant, const PhoneNumber& phone,
                                                           std::string trigger, std::string provider_message_id) {
    auto e = impl_->make_event(tenant, phone, optout::EventKind::opt_out, optout::Method::platform,
                               optout::Scope::marketing, std::move(trigger));
    e.provider_message_id = std::move(provider_message_id);
    return impl_->record(std::move(e));
}

Result<optout::Status> Engine::status(const TenantId& tenant, const PhoneNumber& phone) {
    return impl_->registry.status(tenant, phone);
}

Result<std::vector<optout::OptOutEvent>> Engine::history(const TenantId& tenant, const PhoneNumber& phone) {
    return impl_->registry.history(tenant, phone);
}

Result<Attempt<storage::ConsentRecord>> Engine::record_consent(const rbac::Principal& by,
                                                               storage::ConsentRecord record,
                                                               std::string_view request_id) {
    Impl& d = *impl_;
    if (record.tenant.empty()) return {storage::StorageErrc::invalid_argument, "a consent record needs a tenant"};
    auto target = d.contact_target(record.tenant, record.phone);
    if (!target) return target.error();
    rbac::AccessDecision access = d.authorizer.check(by, rbac::Action::update, target->resource);
    const std::string action = std::string(record.granted ? "consent.grant." : "consent.withdraw.") +
                               std::string(storage::to_string(record.purpose));
    if (auto audited = d.audit_attempt(record.tenant, by, action, "contact", target->audit_id, access.reason(),
                                       access.rule(), access.revision(), request_id);
        !audited)
        return audited.error();
    Attempt<storage::ConsentRecord> attempt{std::move(access), std::nullopt};
    if (!attempt.allowed()) return attempt;
    record.actor = by.user;
    if (auto stored = record_platform_consent(record); !stored) return stored.error();
    attempt.value = std::move(record);
    return attempt;
}

Result<void> Engine::record_platform_consent(const storage::ConsentRecord& record) {
    if (auto loaded = impl_->ensure_loaded(record.tenant); !loaded) return loaded;
    auto lock = impl_->lock_tenant(record.tenant);
    if (auto r = impl_->stores.consents().append(record); !r) return r;
    impl_->index.set_consent(record.tenant, record.phone, record.granted);
    return {};
}

Result<Attempt<storage::Contact>> Engine::restrict_processing(const TenantId& tenant, const rbac::Principal& by,
                                                              const ContactId& contact, bool restricted,
                                                              std::string_view request_id) {
    Impl& d = *impl_;
    if (tenant.empty() || contact.empty())
        return {storage::StorageErrc::invalid_argument, "a restriction needs a tenant and a contact id"};
    // A restriction answers the contact's data-subject request: the resource is the request, with
    // the facts of the contact it concerns.
    rbac::Resource request{rbac::ResourceType::data_subject_request, tenant, contact.value()};
    auto found = d.stores.contacts().get(tenant, contact);
    if (!found) return found.error();
    if (*found) {
        request.assignee = (*found)->assignee;
        request.team = (*found)->team;
    }
    rbac::AccessDecision access = d.authorizer.check(by, rbac::Action::update, request);
    if (auto audited = d.audit_attempt(tenant, by, restricted ? "restriction.apply" : "restriction.lift", "contact",
                                       contact.value(), access.reason(), access.rule(), access.revision(),
                                       request_id);
        !audited)
        return audited.error();
    Attempt<storage::Contact> attempt{std::move(access), std::nullopt};
    if (!attempt.allowed()) return attempt;
    auto stored = set_restricted(tenant, contact, restricted);
    if (!stored) return stored.error();
    attempt.value = std::move(stored).value();
    return attempt;
}

Result<storage::Contact> Engine::set_restricted(const TenantId& tenant, const ContactId& contact, bool restricted) {
    Impl& d = *impl_;
    if (tenant.empty() || contact.empty())
        return {storage::StorageErrc::invalid_argument, "a restriction needs a tenant and a contact id"};
    if (auto loaded = d.ensure_loaded(tenant); !loaded) return loaded.error();
    auto lock = d.lock_tenant(tenant);
    auto found = d.stores.contacts().get(tenant, contact);  // under the tenant's lock
    if (!found) return found.error();
    if (!*found) return {storage::StorageErrc::not_found, "no contact '" + contact.value() + "'"};
    storage::Contact c = **found;
    c.restricted = restricted;
    c.updated_at = d.clock.now();
    if (restricted) d.index.set_restricted(tenant, c.phone, true);  // block first, then persist
    if (auto r = d.stores.contacts().put(c); !r) return r.error();
    if (!restricted) d.index.set_restricted(tenant, c.phone, false);
    return c;
}

bool Engine::can_erase_numbers() const noexcept { return impl_->options.blind_index != nullptr; }

Result<NumberErasure> Engine::erase_number(const TenantId& tenant, const PhoneNumber& phone, const UserId& by) {
    Impl& d = *impl_;
    if (tenant.empty()) return Error(storage::StorageErrc::invalid_argument, "erasing a number needs a tenant");
    if (d.options.blind_index == nullptr) return no_blind_index(tenant);
    if (auto loaded = d.ensure_loaded(tenant); !loaded) return loaded.error();
    auto lock = d.lock_tenant(tenant);
    auto tag = d.tag_of(tenant, phone);
    if (!tag) return tag.error();
    if (auto r = d.rehydrate(tenant, phone); !r) return r.error();

    // 1. Suppress: an opt-out of everything, in the index at once and then in the store.
    auto suppression = d.make_event(tenant, phone, optout::EventKind::opt_out, optout::Method::manual,
                                    optout::Scope::all, "erasure");
    suppression.actor = by;
    suppression.channel = "erasure";
    if (auto stored = d.record_event(suppression); !stored) return stored.error();
    (void)d.index.claim_confirmation(tenant, phone, Timestamp::min());

    // 2. The history as it will be kept, in memory before the store forgets the number, so that the
    //    suppression holds at every moment (also if a step below fails and is repeated).
    auto history = d.stores.optouts().history(tenant, phone);
    if (!history) return history.error();
    {
        std::lock_guard guard(d.tenants_mutex);
        auto& kept = d.erased[tenant][*tag];
        for (const optout::OptOutEvent& e : *history) {
            const bool free_text = e.method == optout::Method::manual || e.method == optout::Method::api;
            kept.push_back({tenant, *tag, e.kind, e.scope, e.method, e.at, free_text ? std::string() : e.trigger,
                            e.channel, e.sequence});
        }
        std::stable_sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return a.sequence < b.sequence; });
        kept.erase(std::unique(kept.begin(), kept.end(),
                               [](const auto& a, const auto& b) { return a.sequence == b.sequence; }),
                   kept.end());
        d.any_erased.store(true);
    }

    // 3. The store.
    NumberErasure out;
    auto events = d.stores.optouts().erase_number(tenant, phone, *tag);
    if (!events) return events.error();
    out.optout_events = *events;
    auto consents = d.stores.consents().erase_number(tenant, phone);
    if (!consents) return consents.error();
    out.consent_records = *consents;
    d.index.set_consent(tenant, phone, false);
    auto activity = d.stores.activity().forget(tenant, phone);
    if (!activity) return activity.error();
    out.inbound_activity = *activity;
    return out;
}

std::string Engine::pseudonym(const PhoneNumber& phone) const { return impl_->pseudonyms(phone); }

Result<std::size_t> Engine::catch_up(const TenantId& tenant) {
    auto lock = impl_->lock_tenant(tenant);
    return impl_->catch_up_locked(tenant);
}

Result<std::size_t> Engine::catch_up_all() {
    std::size_t read = 0;
    std::optional<Error> first;
    for (const TenantId& tenant : impl_->loaded_tenants()) {
        auto r = catch_up(tenant);
        if (r) read += *r;
        else if (!first) first = r.error();
    }
    if (first) return *first;
    return read;
}

Result<bool> Engine::reload(const TenantId& tenant) {
    auto lock = impl_->lock_tenant(tenant);
    {
        std::lock_guard guard(impl_->tenants_mutex);
        if (!impl_->watermarks.contains(tenant)) return false;
    }
    if (auto r = impl_->load(tenant); !r) return r.error();
    return true;
}

Result<void> Engine::reload_all() {
    std::optional<Error> first;
    for (const TenantId& tenant : impl_->loaded_tenants())
        if (auto r = reload(tenant); !r && !first) first = r.error();
    if (first) return *first;
    return {};
}

void Engine::set_change_feed_connected(bool connected) {
    Impl& d = *impl_;
    std::lock_guard lock(d.currency_mutex);  // then tenants_mutex, never the other way round
    if (connected) {
        d.feed_connected = true;
        return;
    }
    d.feed_connected = false;
    ++d.feed_epoch;
    if (!d.options.shared.enabled) return;
    for (const TenantId& tenant : d.loaded_tenants()) d.index.mark_current(tenant, false);
}

bool Engine::current(const TenantId& tenant) const noexcept { return impl_->index.current(tenant); }

const messaging::SuppressionIndex& Engine::index() const noexcept { return impl_->index; }
const messaging::SendGate& Engine::gate() const noexcept { return impl_->gate; }
rbac::Authorizer& Engine::authorizer() noexcept { return impl_->authorizer; }
audit::Log& Engine::audit() noexcept { return impl_->log; }

}  // namespace heroshhi
