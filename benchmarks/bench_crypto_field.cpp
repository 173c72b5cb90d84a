// Field encryption: heroshhi::crypto::FieldCipher encrypt + decrypt pairs (AES-256-GCM, random
// nonce, associated data binding tenant/table/column/row, versioned header, key-ring lookup,
// output allocation) beside raw OpenSSL EVP AES-256-GCM in the same run: one context per
// direction with the key schedule done once, a counter nonce, the same associated-data length,
// output into a reused buffer. The raw loop is the most OpenSSL can do; the ratio is heroshhi's
// overhead.
#include <benchmark/benchmark.h>

#include <heroshhi/crypto/field_cipher.hpp>
#include <heroshhi/crypto/key_ring.hpp>

#include <openssl/evp.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace heroshhi;

const TenantId tenant{"tenant-0042"};
constexpr crypto::FieldName field{"contacts", "phone"};
const std::string row = "c-0000017";
// label 18 + header 5 + 4 lengths + the four strings: what FieldCipher authenticates
constexpr std::size_t kAadSize = 18 + 5 + 16 + 11 + 8 + 5 + 9;

crypto::KeyRing make_ring() {
    crypto::KeySet set;
    set.keys.push_back({crypto::KeyId{1}, crypto::SecretKey::generate().value()});
    set.primary = crypto::KeyId{1};
    return crypto::KeyRing::create(std::move(set)).value();
}

void BM_heroshhi_field_cipher_pair(benchmark::State& state) {
    const crypto::KeyRing ring = make_ring();
    const crypto::FieldCipher cipher(ring);
    const std::string plain(static_cast<std::size_t>(state.range(0)), 'x');
    for (auto _ : state) {
        auto ct = cipher.encrypt(tenant, field, row, plain);
        auto back = cipher.decrypt(tenant, field, row, *ct);
        if (!back || back->size() != plain.size()) state.SkipWithError("round trip failed");
        benchmark::DoNotOptimize(back);
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * 2 * plain.size()));
}

void BM_openssl_evp_gcm_pair(benchmark::State& state) {
    unsigned char key[32] = {1};
    unsigned char iv[12] = {0};
    unsigned char tag[16];
    std::vector<unsigned char> aad(kAadSize, 0x5A);
    const std::size_t n = static_cast<std::size_t>(state.range(0));
    std::vector<unsigned char> plain(n, 'x'), ct(n), out(n);
    EVP_CIPHER_CTX* enc = EVP_CIPHER_CTX_new();
    EVP_CIPHER_CTX* dec = EVP_CIPHER_CTX_new();
    EVP_EncryptInit_ex2(enc, EVP_aes_256_gcm(), key, nullptr, nullptr);
    EVP_DecryptInit_ex2(dec, EVP_aes_256_gcm(), key, nullptr, nullptr);
    std::uint64_t counter = 0;
    int len = 0;
    for (auto _ : state) {
        ++counter;
        std::memcpy(iv, &counter, sizeof counter);
        EVP_EncryptInit_ex2(enc, nullptr, nullptr, iv, nullptr);
        EVP_EncryptUpdate(enc, nullptr, &len, aad.data(), static_cast<int>(aad.size()));
        EVP_EncryptUpdate(enc, ct.data(), &len, plain.data(), static_cast<int>(n));
        EVP_EncryptFinal_ex(enc, ct.data() + len, &len);
        EVP_CIPHER_CTX_ctrl(enc, EVP_CTRL_AEAD_GET_TAG, 16, tag);
        EVP_DecryptInit_ex2(dec, nullptr, nullptr, iv, nullptr);
        EVP_DecryptUpdate(dec, nullptr, &len, aad.data(), static_cast<int>(aad.size()));
        EVP_DecryptUpdate(dec, out.data(), &len, ct.data(), static_cast<int>(n));
        EVP_CIPHER_CTX_ctrl(dec, EVP_CTRL_AEAD_SET_TAG, 16, tag);
        if (EVP_DecryptFinal_ex(dec, out.data() + len, &len) != 1) state.SkipWithError("tag mismatch");
        benchmark::DoNotOptimize(out.data());
    }
    EVP_CIPHER_CTX_free(enc);
    EVP_CIPHER_CTX_free(dec);
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * 2 * n));
}

BENCHMARK(BM_heroshhi_field_cipher_pair)->Arg(64)->Arg(16 * 1024);
BENCHMARK(BM_openssl_evp_gcm_pair)->Arg(64)->Arg(16 * 1024);

}  // namespace

BENCHMARK_MAIN();
