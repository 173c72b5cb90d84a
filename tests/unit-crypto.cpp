// Encryption at rest and signatures: secret keys, key providers, the key ring and rotation,
// FieldCipher, the re-encryption pass, blind indexes and webhook signatures. (TLS: unit-crypto-tls.)
#include <doctest/doctest.h>

#include <heroshhi/crypto/blind_index.hpp>
#include <heroshhi/crypto/env_key_provider.hpp>
#include <heroshhi/crypto/errors.hpp>
#include <heroshhi/crypto/field_cipher.hpp>
#include <heroshhi/crypto/file_key_provider.hpp>
#include <heroshhi/crypto/key_ring.hpp>
#include <heroshhi/crypto/reencryption.hpp>
#include <heroshhi/crypto/secret_key.hpp>
#include <heroshhi/crypto/webhook_signature.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <new>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

using namespace heroshhi;
using namespace heroshhi::crypto;
namespace fs = std::filesystem;

namespace {

const TenantId tenant{"acme"};
constexpr FieldName contact_phone{"contacts", "phone"};

SecretKey key_of(std::uint8_t fill) {
    std::array<std::uint8_t, 32> bytes;
    bytes.fill(fill);
    return SecretKey::from_bytes(bytes).value();
}

KeyRing ring_with(std::initializer_list<std::uint32_t> ids, std::uint32_t primary) {
    KeySet set;
    for (const std::uint32_t id : ids) set.keys.push_back({KeyId{id}, key_of(static_cast<std::uint8_t>(id))});
    set.primary = KeyId{primary};
    return KeyRing::create(std::move(set)).value();
}

std::string b64(std::uint8_t fill) { return key_of(fill).to_base64(); }

/// A file under the temp directory, removed afterwards.
class TempFile {
public:
    explicit TempFile(const std::string& content, fs::perms perms = fs::perms::owner_read | fs::perms::owner_write) {
        static std::atomic<unsigned> counter{0};
        path_ = fs::temp_directory_path() /
                ("heroshhi-unit-crypto-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".keys");
        std::ofstream(path_) << content;
        fs::permissions(path_, perms);
    }
    ~TempFile() {
        std::error_code ignored;
        fs::remove(path_, ignored);
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    std::string str() const { return path_.string(); }

private:
    fs::path path_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Secret keys and providers

TEST_CASE("secret keys come from 32 bytes or their base64, and errors never echo the input") {
    const std::string text = b64(7);
    auto key = SecretKey::from_base64(text);
    REQUIRE(key.has_value());
    CHECK(key->bytes()[0] == 7);
    CHECK(key->to_base64() == text);
    CHECK(SecretKey::from_base64(text.substr(0, 43)).has_value());  // padding optional

    for (const std::string& bad : {std::string("c2hvcnQ="), text.substr(0, 40), "!" + text.substr(1), text + "AAAA"}) {
        auto r = SecretKey::from_base64(bad);
        REQUIRE_FALSE(r);
        CHECK(r.error() == CryptoErrc::invalid_key);
        CHECK(r.error().message().find(bad) == std::string::npos);
    }
    std::array<std::uint8_t, 16> short_key{};
    CHECK(SecretKey::from_bytes(short_key).error() == CryptoErrc::invalid_key);
    auto a = SecretKey::generate().value();
    auto b = SecretKey::generate().value();
    CHECK(std::memcmp(a.bytes().data(), b.bytes().data(), SecretKey::size) != 0);
}

TEST_CASE("a secret key's bytes are wiped when it is moved from or destroyed") {
    auto moved_from = key_of(0xAB);
    SecretKey moved_to = std::move(moved_from);
    CHECK(moved_to.bytes()[5] == 0xAB);
    const auto& stale = moved_from;  // NOLINT(bugprone-use-after-move): checking the wipe
    for (const std::uint8_t b : stale.bytes()) CHECK(b == 0);

    alignas(SecretKey) unsigned char storage[sizeof(SecretKey)];
    auto* key = new (storage) SecretKey(key_of(0xCD));
    const std::uint8_t* bytes = key->bytes().data();
    const std::size_t offset = static_cast<std::size_t>(bytes - storage);
    REQUIRE(storage[offset] == 0xCD);
    key->~SecretKey();
    bool all_zero = true;
    for (std::size_t i = 0; i < SecretKey::size; ++i) all_zero = all_zero && storage[offset + i] == 0;
    CHECK(all_zero);
}

TEST_CASE("the file key provider reads ids, keys and the primary, and refuses loose permissions") {
    SUBCASE("the highest id is primary unless one line is marked") {
        TempFile file("# data keys\n\n1 " + b64(1) + "\n  3\t" + b64(3) + "  \r\n2 " + b64(2) + "\n");
        auto set = FileKeyProvider(file.str()).load_keys();
        REQUIRE_MESSAGE(set.has_value(), (set ? "" : set.error().message()));
        CHECK(set->keys.size() == 3);
        CHECK(set->primary == KeyId{3});
        TempFile marked("1 " + b64(1) + "\n2 " + b64(2) + " primary\n3 " + b64(3) + "\n");
        CHECK(FileKeyProvider(marked.str()).load_keys()->primary == KeyId{2});
    }
    SUBCASE("a file readable by others is refused unless the check is off") {
        TempFile file("1 " + b64(1) + "\n", fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                                               fs::perms::others_read);
        auto refused = FileKeyProvider(file.str()).load_keys();
        REQUIRE_FALSE(refused);
        CHECK(refused.error() == CryptoErrc::key_source_failed);
        CHECK(refused.error().detail().find("group or others") != std::string::npos);
        CHECK(FileKeyProvider(file.str(), /*require_owner_only=*/false).load_keys().has_value());
    }
    SUBCASE("errors name the file and line, never the key") {
        const std::string key = b64(9);
        struct Row {
            std::string content;
            CryptoErrc code;
            std::string detail_end;
        };
        const Row rows[] = {
            {"1 " + key + "\n1 " + b64(8) + "\n", CryptoErrc::duplicate_key, "line 2: key id 1 appears twice"},
            {"0 " + key + "\n", CryptoErrc::key_source_failed, "line 1: the key id is not a number from 1 to 4294967295"},
            {"x " + key + "\n", CryptoErrc::key_source_failed, "line 1: the key id is not a number from 1 to 4294967295"},
            {"1 " + key.substr(0, 30) + "\n", CryptoErrc::invalid_key, "line 1: not the base64 form of 32 bytes"},
            {"1\n", CryptoErrc::key_source_failed, "line 1: expected \"<id> <base64 key> [primary]\""},
            {"1 " + key + " main\n", CryptoErrc::key_source_failed, "line 1: expected \"primary\" or nothing after the key"},
            {"1 " + key + " primary\n2 " + b64(2) + " primary\n", CryptoErrc::key_source_failed,
             "line 2: more than one key is marked primary"},
            {"# nothing\n", CryptoErrc::no_keys, " holds no key"},
        };
        for (const Row& r : rows) {
            CAPTURE(r.content);
            TempFile file(r.content);
            auto set = FileKeyProvider(file.str()).load_keys();
            REQUIRE_FALSE(set);
            CHECK(set.error() == r.code);
            const std::string& d = set.error().detail();
            CHECK(d.find(file.str()) == 0);
            CHECK(d.substr(d.size() - std::min(d.size(), r.detail_end.size())) == r.detail_end);
            CHECK(set.error().message().find(key.substr(0, 30)) == std::string::npos);
        }
        auto missing = FileKeyProvider("/nonexistent/heroshhi.keys").load_keys();
        REQUIRE_FALSE(missing);
        CHECK(missing.error() == CryptoErrc::key_source_failed);
    }
}

TEST_CASE("the environment key provider reads comma-separated id:key entries") {
    const std::string var = "HEROSHHI_UNIT_TEST_KEYS_" + std::to_string(::getpid());
    ::setenv(var.c_str(), (" 1:" + b64(1) + ", 5:" + b64(5) + ",2:" + b64(2)).c_str(), 1);
    auto set = EnvKeyProvider(var).load_keys();
    REQUIRE(set.has_value());
    CHECK(set->keys.size() == 3);
    CHECK(set->primary == KeyId{5});
    ::setenv(var.c_str(), ("1:" + b64(1) + ":primary,5:" + b64(5)).c_str(), 1);
    CHECK(EnvKeyProvider(var).load_keys()->primary == KeyId{1});

    const std::string secret = b64(42);
    ::setenv(var.c_str(), ("1:" + secret + ",2" + secret).c_str(), 1);
    auto bad = EnvKeyProvider(var).load_keys();
    REQUIRE_FALSE(bad);
    CHECK(bad.error().detail() == var + " entry 2: expected \"<id>:<base64 key>[:primary]\"");
    CHECK(bad.error().message().find(secret.substr(0, 20)) == std::string::npos);
    ::unsetenv(var.c_str());
    auto unset = EnvKeyProvider(var).load_keys();
    REQUIRE_FALSE(unset);
    CHECK(unset.error().detail() == var + " is not set");
}

// ---------------------------------------------------------------------------------------------
// Key ring

TEST_CASE("a key ring holds keys by id with one primary, and rotation makes the new key primary") {
    KeyRing ring = ring_with({1, 2}, 1);
    CHECK(ring.primary() == KeyId{1});
    CHECK(ring.ids() == std::vector<KeyId>{KeyId{1}, KeyId{2}});
    REQUIRE(ring.rotate({KeyId{7}, key_of(7)}).has_value());
    CHECK(ring.primary() == KeyId{7});
    CHECK(ring.contains(KeyId{7}));
    CHECK(ring.rotate({KeyId{2}, key_of(9)}).error() == CryptoErrc::duplicate_key);
    REQUIRE(ring.add({KeyId{4}, key_of(4)}).has_value());
    CHECK(ring.primary() == KeyId{7});
    REQUIRE(ring.set_primary(KeyId{4}).has_value());
    CHECK(ring.primary() == KeyId{4});
    CHECK(ring.set_primary(KeyId{99}).error() == CryptoErrc::unknown_key);
    CHECK(ring.remove(KeyId{4}).error() == CryptoErrc::invalid_argument);
    REQUIRE(ring.remove(KeyId{1}).has_value());
    CHECK_FALSE(ring.contains(KeyId{1}));

    KeySet bad;
    CHECK(KeyRing::create(std::move(bad)).error() == CryptoErrc::no_keys);
    KeySet no_primary;
    no_primary.keys.push_back({KeyId{1}, key_of(1)});
    no_primary.primary = KeyId{2};
    CHECK(KeyRing::create(std::move(no_primary)).error() == CryptoErrc::no_keys);
}

TEST_CASE("reloading a key ring from its provider adds new keys and keeps retired ones") {
    TempFile v1("1 " + b64(1) + "\n");
    KeyRing ring = KeyRing::load(FileKeyProvider(v1.str())).value();
    const FieldCipher cipher(ring);
    const Bytes old = cipher.encrypt(tenant, contact_phone, "c1", "+14155550123").value();

    TempFile v2("2 " + b64(2) + "\n");  // the provider no longer lists key 1
    REQUIRE(ring.reload(FileKeyProvider(v2.str())).has_value());
    CHECK(ring.primary() == KeyId{2});
    CHECK(ring.contains(KeyId{1}));
    CHECK(cipher.decrypt(tenant, contact_phone, "c1", old).value() == "+14155550123");

    TempFile conflicting("2 " + b64(3) + "\n");
    auto r = ring.reload(FileKeyProvider(conflicting.str()));
    REQUIRE_FALSE(r);
    CHECK(r.error() == CryptoErrc::duplicate_key);
    CHECK(ring.primary() == KeyId{2});
}

// ---------------------------------------------------------------------------------------------
// FieldCipher

TEST_CASE("a field decrypts to its plaintext at the place it was encrypted for") {
    const KeyRing ring = ring_with({3}, 3);
    const FieldCipher cipher(ring);
    for (const std::string& plain : {std::string(), std::string("x"), std::string("+14155550123"), std::string(64, 'a'),
                                     std::string(16 * 1024, '\xAB'), std::string("a\0b", 3)}) {
        CAPTURE(plain.size());
        auto ct = cipher.encrypt(tenant, contact_phone, "c-17", plain);
        REQUIRE(ct.has_value());
        CHECK(ct->size() == plain.size() + FieldCipher::overhead);
        CHECK((*ct)[0] == 1);
        CHECK(FieldCipher::key_id(*ct).value() == KeyId{3});
        if (plain.size() >= 8) CHECK(std::search(ct->begin(), ct->end(), plain.begin(), plain.end()) == ct->end());
        auto back = cipher.decrypt(tenant, contact_phone, "c-17", *ct);
        REQUIRE(back.has_value());
        CHECK(*back == plain);
    }
}

TEST_CASE("every encryption uses a fresh nonce") {
    const KeyRing ring = ring_with({1}, 1);
    const FieldCipher cipher(ring);
    std::set<std::string> nonces;
    std::set<Bytes> ciphertexts;
    constexpr int n = 5000;
    for (int i = 0; i < n; ++i) {
        const Bytes ct = cipher.encrypt(tenant, contact_phone, "c1", "same plaintext").value();
        nonces.insert(std::string(ct.begin() + 5, ct.begin() + 17));
        ciphertexts.insert(ct);
    }
    CHECK(nonces.size() == std::size_t(n));
    CHECK(ciphertexts.size() == std::size_t(n));
}

TEST_CASE("a ciphertext moved to another row, column, table or tenant fails to decrypt") {
    const KeyRing ring = ring_with({1}, 1);
    const FieldCipher cipher(ring);
    const Bytes ct = cipher.encrypt(tenant, contact_phone, "c1", "+14155550123").value();
    struct Place {
        TenantId tenant;
        FieldName field;
        std::string row;
    };
    const Place elsewhere[] = {
        {tenant, contact_phone, "c2"},
        {tenant, {"contacts", "email"}, "c1"},
        {tenant, {"leads", "phone"}, "c1"},
        {TenantId{"globex"}, contact_phone, "c1"},
        {tenant, {"contactsp", "hone"}, "c1"},  // same bytes concatenated: the lengths tell them apart
        {tenant, contact_phone, "c1 "},
    };
    for (const Place& p : elsewhere) {
        CAPTURE(p.row);
        auto r = cipher.decrypt(p.tenant, p.field, p.row, ct);
        REQUIRE_FALSE(r);
        CHECK(r.error() == CryptoErrc::authentication_failed);
    }
    CHECK(cipher.decrypt(tenant, contact_phone, "c1", ct).has_value());
}

TEST_CASE("any change to a ciphertext is detected") {
    const KeyRing ring = ring_with({1, 2}, 1);
    const FieldCipher cipher(ring);
    const Bytes ct = cipher.encrypt(tenant, contact_phone, "c1", "ada@example.org").value();
    for (std::size_t byte = 0; byte < ct.size(); ++byte) {
        for (int bit = 0; bit < 8; ++bit) {
            Bytes altered = ct;
            altered[byte] ^= static_cast<std::uint8_t>(1u << bit);
            auto r = cipher.decrypt(tenant, contact_phone, "c1", altered);
            CAPTURE(byte);
            REQUIRE_FALSE(r);
            if (byte == 0) CHECK((r.error() == CryptoErrc::unsupported_version || r.error() == CryptoErrc::malformed_ciphertext));
            else if (byte < 5) CHECK((r.error() == CryptoErrc::unknown_key || r.error() == CryptoErrc::authentication_failed));
            else CHECK(r.error() == CryptoErrc::authentication_failed);
        }
    }
    Bytes truncated(ct.begin(), ct.begin() + 32);
    CHECK(cipher.decrypt(tenant, contact_phone, "c1", truncated).error() == CryptoErrc::malformed_ciphertext);
    Bytes shortened(ct.begin(), ct.end() - 1);
    CHECK(cipher.decrypt(tenant, contact_phone, "c1", shortened).error() == CryptoErrc::authentication_failed);
    Bytes newer = ct;
    newer[0] = 2;
    auto v2 = cipher.decrypt(tenant, contact_phone, "c1", newer);
    CHECK(v2.error() == CryptoErrc::unsupported_version);
    CHECK(cipher.decrypt(tenant, contact_phone, "c1", Bytes{}).error() == CryptoErrc::malformed_ciphertext);
    // Key 2 is in the ring: relabelling the header to it still fails (the header is authenticated).
    Bytes relabelled = ct;
    relabelled[4] = 2;
    CHECK(cipher.decrypt(tenant, contact_phone, "c1", relabelled).error() == CryptoErrc::authentication_failed);
}

TEST_CASE("after rotation old ciphertexts still decrypt and new ones use the new key") {
    KeyRing ring = ring_with({1}, 1);
    const FieldCipher cipher(ring);
    const Bytes old = cipher.encrypt(tenant, contact_phone, "c1", "old").value();
    CHECK(cipher.is_current(old));
    REQUIRE(ring.rotate({KeyId{2}, key_of(2)}).has_value());
    CHECK_FALSE(cipher.is_current(old));
    const Bytes fresh = cipher.encrypt(tenant, contact_phone, "c1", "new").value();
    CHECK(FieldCipher::key_id(fresh).value() == KeyId{2});
    CHECK(cipher.decrypt(tenant, contact_phone, "c1", old).value() == "old");
    const Bytes moved = cipher.reencrypt(tenant, contact_phone, "c1", old).value();
    CHECK(FieldCipher::key_id(moved).value() == KeyId{2});
    REQUIRE(ring.remove(KeyId{1}).has_value());
    CHECK(cipher.decrypt(tenant, contact_phone, "c1", moved).value() == "old");
    auto gone = cipher.decrypt(tenant, contact_phone, "c1", old);
    REQUIRE_FALSE(gone);
    CHECK(gone.error() == CryptoErrc::unknown_key);
    CHECK(gone.error().detail() == "key id 1 is not in the ring");
}

TEST_CASE("a field cipher keeps working when its key ring object is moved") {
    KeyRing ring = ring_with({1}, 1);
    const FieldCipher cipher(ring);
    const Bytes ct = cipher.encrypt(tenant, contact_phone, "c1", "x").value();
    KeyRing owner = std::move(ring);
    REQUIRE(owner.rotate({KeyId{2}, key_of(2)}).has_value());
    CHECK(cipher.primary_key() == KeyId{2});
    CHECK(cipher.decrypt(tenant, contact_phone, "c1", ct).value() == "x");
}

TEST_CASE("a field cipher refuses empty places") {
    const KeyRing ring = ring_with({1}, 1);
    const FieldCipher cipher(ring);
    CHECK(cipher.encrypt(TenantId{}, contact_phone, "c1", "x").error() == CryptoErrc::invalid_argument);
    CHECK(cipher.encrypt(tenant, {"", "phone"}, "c1", "x").error() == CryptoErrc::invalid_argument);
    CHECK(cipher.encrypt(tenant, {"contacts", ""}, "c1", "x").error() == CryptoErrc::invalid_argument);
    CHECK(cipher.encrypt(tenant, contact_phone, "", "x").error() == CryptoErrc::invalid_argument);
}

TEST_CASE("a field cipher works from many threads while the ring rotates") {
    KeyRing ring = ring_with({1}, 1);
    const FieldCipher cipher(ring);
    std::atomic<int> failures{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> workers;
    for (int t = 0; t < 4; ++t) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < 400; ++i) {
                const std::string row = "r" + std::to_string(t) + "-" + std::to_string(i);
                const std::string plain = "value " + row;
                auto ct = cipher.encrypt(tenant, contact_phone, row, plain);
                if (!ct) {
                    ++failures;
                    continue;
                }
                auto back = cipher.decrypt(tenant, contact_phone, row, *ct);
                if (!back || *back != plain) ++failures;
            }
        });
    }
    std::thread rotator([&] {
        for (std::uint32_t id = 2; id < 30 && !stop; ++id) {
            if (!ring.rotate({KeyId{id}, key_of(static_cast<std::uint8_t>(id))})) ++failures;
            std::this_thread::yield();
        }
    });
    for (auto& w : workers) w.join();
    stop = true;
    rotator.join();
    CHECK(failures == 0);
}

TEST_CASE("a child process after fork never reuses the parent's buffered nonces") {
    const KeyRing ring = ring_with({1}, 1);
    const FieldCipher cipher(ring);
    (void)cipher.encrypt(tenant, contact_phone, "c1", "warm the nonce buffer").value();
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        auto ct = cipher.encrypt(tenant, contact_phone, "c1", "child");
        std::uint8_t nonce[12] = {};
        if (ct) std::memcpy(nonce, ct->data() + 5, 12);
        const bool written = ::write(fds[1], nonce, sizeof nonce) == static_cast<ssize_t>(sizeof nonce);
        ::_exit(ct && written ? 0 : 1);
    }
    ::close(fds[1]);
    const Bytes parent = cipher.encrypt(tenant, contact_phone, "c1", "parent").value();
    std::uint8_t child_nonce[12] = {};
    std::size_t got = 0;
    while (got < sizeof child_nonce) {
        const ssize_t n = ::read(fds[0], child_nonce + got, sizeof child_nonce - got);
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(got == sizeof child_nonce);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    CHECK(std::memcmp(child_nonce, parent.data() + 5, 12) != 0);
}

// ---------------------------------------------------------------------------------------------
// Re-encryption

namespace {

/// An in-memory table of encrypted fields, ordered by cursor, with hooks to simulate a concurrent
/// write or a failing store.
class MemoryFieldSource : public EncryptedFieldSource {
public:
    std::map<std::string, EncryptedField> rows;
    std::function<void(const std::string& cursor)> before_replace;
    int fail_replace_at = -1;
    int replace_calls = 0;

    Result<std::vector<EncryptedField>> next_batch(std::string_view cursor, std::size_t limit, KeyId) override {
        std::vector<EncryptedField> out;
        for (auto it = rows.upper_bound(std::string(cursor)); it != rows.end() && out.size() < limit; ++it)
            out.push_back(it->second);
        return out;
    }
    Result<bool> replace(const EncryptedField& field, const Bytes& replacement) override {
        if (replace_calls++ == fail_replace_at) return Error(CryptoErrc::backend_failure, "store down");
        if (before_replace) before_replace(field.cursor);
        auto it = rows.find(field.cursor);
        if (it == rows.end() || it->second.ciphertext != field.ciphertext) return false;
        it->second.ciphertext = replacement;
        return true;
    }
};

std::string cursor_of(int i) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "r%05d", i);
    return buf;
}

}  // namespace

TEST_CASE("a re-encryption pass moves every field to the primary key in resumable batches") {
    KeyRing ring = ring_with({1}, 1);
    const FieldCipher cipher(ring);
    MemoryFieldSource source;
    constexpr int n = 300;
    for (int i = 0; i < n; ++i) {
        EncryptedField f{tenant, "contacts", "phone", "c" + std::to_string(i), {}, cursor_of(i)};
        f.ciphertext = cipher.encrypt(tenant, {f.table, f.column}, f.row_id, "+1415555" + std::to_string(1000 + i)).value();
        source.rows[f.cursor] = f;
    }
    REQUIRE(ring.rotate({KeyId{2}, key_of(2)}).has_value());

    std::size_t rewritten = 0;
    std::string saved;
    {
        ReencryptionPass pass(cipher, source);
        for (int b = 0; b < 2; ++b) rewritten += pass.run_batch(64).value().rewritten;
        saved = pass.cursor();  // the process "restarts" here
        CHECK(saved == cursor_of(127));
        CHECK_FALSE(pass.finished());
    }
    ReencryptionPass resumed(cipher, source, saved);
    while (!resumed.finished()) {
        auto batch = resumed.run_batch(64);
        REQUIRE(batch.has_value());
        CHECK(batch->failures.empty());
        rewritten += batch->rewritten;
    }
    CHECK(rewritten == std::size_t(n));
    for (const auto& [cursor, f] : source.rows) {
        CHECK(FieldCipher::key_id(f.ciphertext).value() == KeyId{2});
        const int i = std::stoi(f.row_id.substr(1));
        CHECK(cipher.decrypt(tenant, {f.table, f.column}, f.row_id, f.ciphertext).value() == "+1415555" + std::to_string(1000 + i));
    }

    SUBCASE("running it again changes nothing") {
        ReencryptionPass again(cipher, source);
        std::size_t current = 0;
        while (!again.finished()) {
            auto batch = again.run_batch(100).value();
            CHECK(batch.rewritten == 0);
            current += batch.current;
        }
        CHECK(current == std::size_t(n));
    }
}

TEST_CASE("a re-encryption pass leaves concurrent writes alone, reports undecryptable fields and stops on store errors") {
    KeyRing ring = ring_with({1}, 1);
    const FieldCipher cipher(ring);
    MemoryFieldSource source;
    for (int i = 0; i < 10; ++i) {
        EncryptedField f{tenant, "contacts", "email", "c" + std::to_string(i), {}, cursor_of(i)};
        f.ciphertext = cipher.encrypt(tenant, {f.table, f.column}, f.row_id, "x").value();
        source.rows[f.cursor] = f;
    }
    source.rows[cursor_of(3)].ciphertext[20] ^= 1;  // damaged at rest
    REQUIRE(ring.rotate({KeyId{2}, key_of(2)}).has_value());
    source.before_replace = [&](const std::string& cursor) {
        if (cursor == cursor_of(5))  // the application writes row 5 while the pass works
            source.rows[cursor].ciphertext = cipher.encrypt(tenant, {"contacts", "email"}, "c5", "newer").value();
    };
    source.fail_replace_at = 7;  // the 8th replace fails (row 8)

    ReencryptionPass pass(cipher, source);
    auto first = pass.run_batch(100);
    REQUIRE_FALSE(first);
    CHECK(first.error().detail() == "store down");
    CHECK(pass.cursor() == cursor_of(7));  // resumes at row 8
    source.fail_replace_at = -1;
    auto rest = pass.run_batch(100);
    REQUIRE(rest.has_value());
    CHECK(rest->rewritten == 2);
    CHECK(rest->finished);
    CHECK(cipher.decrypt(tenant, {"contacts", "email"}, "c5", source.rows[cursor_of(5)].ciphertext).value() == "newer");
    CHECK(FieldCipher::key_id(source.rows[cursor_of(3)].ciphertext).value() == KeyId{1});  // left as it was

    ReencryptionPass from_start(cipher, source);
    auto all = from_start.run_batch(100).value();
    REQUIRE(all.failures.size() == 1);
    CHECK(all.failures[0].cursor == cursor_of(3));
    CHECK(all.failures[0].error == CryptoErrc::authentication_failed);
    CHECK(all.current == 9);
}

// ---------------------------------------------------------------------------------------------
// Blind index

TEST_CASE("a blind index is the documented HMAC construction, per tenant, over the normalised value") {
    const BlindIndex index = BlindIndex::create(key_of(0x11)).value();
    const PhoneNumber a = PhoneNumber::parse("(415) 555-0123", "US").value();
    const PhoneNumber b = PhoneNumber::parse("14155550123").value();
    const auto tag = index.phone(tenant, a).value();
    CHECK(tag == index.phone(tenant, b).value());
    CHECK(tag != index.phone(TenantId{"globex"}, a).value());
    CHECK(tag != index.phone(tenant, PhoneNumber::parse("+14155550124").value()).value());
    CHECK(BlindIndex::to_hex(tag).size() == 32);

    // Known answer, computed here with OpenSSL's one-shot HMAC.
    unsigned char tenant_key[32];
    unsigned len = 0;
    const std::string tenant_input = std::string("heroshhi/blind-index/v1/tenant") + '\0' + "acme";
    const auto k = key_of(0x11);
    HMAC(EVP_sha256(), k.bytes().data(), 32, reinterpret_cast<const unsigned char*>(tenant_input.data()), tenant_input.size(),
         tenant_key, &len);
    const std::string value_input = std::string("phone") + '\0' + "+14155550123";
    unsigned char full[32];
    HMAC(EVP_sha256(), tenant_key, 32, reinterpret_cast<const unsigned char*>(value_input.data()), value_input.size(), full, &len);
    CHECK(std::memcmp(tag.data(), full, BlindIndex::tag_size) == 0);

    const auto e1 = index.email(tenant, sanitize::EmailAddress::parse("Ada@Example.org").value()).value();
    CHECK(e1 == index.email(tenant, sanitize::EmailAddress::parse("ada@example.org").value()).value());
    CHECK(e1 != index.compute(tenant, "phone", "ada@example.org").value());  // kinds are separate
    CHECK(index.compute(tenant, "", "x").error() == CryptoErrc::invalid_argument);
    CHECK(index.compute(TenantId{}, "phone", "x").error() == CryptoErrc::invalid_argument);

    const BlindIndex other = BlindIndex::create(key_of(0x12)).value();
    CHECK(other.phone(tenant, a).value() != tag);
}

// ---------------------------------------------------------------------------------------------
// Webhook signatures

TEST_CASE("webhook signatures are HMAC-SHA256 over the raw body, compared in full") {
    // RFC 4231 test case 2.
    const WebhookSignature signer = WebhookSignature::create("Jefe").value();
    const std::string body = "what do ya want for nothing?";
    const std::string expected = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
    CHECK(signer.header_value(body).value() == expected);
    CHECK(signer.verify(body, expected).has_value());
    CHECK(signer.verify(body, "sha256=5BDCC146BF60754E6A042426089575C75A003F089D2739839DEC58B964EC3843").has_value());
    CHECK(signer.verify(body, " " + expected + "\r\n").has_value());

    CHECK(signer.verify(body + " ", expected).error() == CryptoErrc::signature_mismatch);
    std::string flipped = expected;
    flipped.back() = '2';
    CHECK(signer.verify(body, flipped).error() == CryptoErrc::signature_mismatch);
    for (const std::string& bad : {std::string(""), expected.substr(7), "sha1=" + expected.substr(7), expected.substr(0, 70),
                                   expected + "00", expected.substr(0, 70) + "zz"}) {
        CAPTURE(bad);
        CHECK(signer.verify(body, bad).error() == CryptoErrc::signature_malformed);
    }
    CHECK(WebhookSignature::create("").error() == CryptoErrc::invalid_key);
    const WebhookSignature other = WebhookSignature::create("Jeff").value();
    CHECK(other.verify(body, expected).error() == CryptoErrc::signature_mismatch);
}

TEST_CASE("a webhook signer gives the same MACs when reused and shared between threads") {
    // RFC 4231 test case 6: a key longer than SHA-256's block, which HMAC hashes first.
    const WebhookSignature signer = WebhookSignature::create(std::string(131, '\xaa')).value();
    const std::string body = "Test Using Larger Than Block-Size Key - Hash Key First";
    const std::string expected = "sha256=60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54";
    // Test case 2's body under this key must differ: each MAC starts again from the key alone.
    const std::string other_body = "what do ya want for nothing?";
    const std::string other_mac = signer.header_value(other_body).value();
    CHECK(other_mac != expected);

    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 500; ++i) {
                auto mac = signer.header_value(body);
                if (!mac || *mac != expected) ++wrong;
                auto other = signer.header_value(other_body);
                if (!other || *other != other_mac) ++wrong;
                if (!signer.verify(body, expected)) ++wrong;
                if (signer.verify(other_body, expected)) ++wrong;
            }
        });
    for (auto& t : threads) t.join();
    CHECK(wrong == 0);
    CHECK(signer.header_value(body).value() == expected);
}
