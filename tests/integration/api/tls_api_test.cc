// The API server over TLS and mutual TLS, through real handshakes with
// certificates made for the test (tests/testing/test_pki.h): who gets in,
// who does not, and that the bearer token still decides what a caller may do.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "lib/common/clock.h"
#include "lib/common/status_macros.h"
#include "tests/integration/api/api_fixture.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_pki.h"

namespace webhooks::api {
namespace {

using ::testing::HasSubstr;
using ::webhooks::testing::CertificateSpec;
using ::webhooks::testing::KeyAndCertificate;
using ::webhooks::testing::StatusIs;
using ::webhooks::testing::TestCa;

// Every certificate the tests use, made once: they are slow to make and no
// test changes them.
struct Pki {
  TestCa server_ca;
  KeyAndCertificate server;
  TestCa client_ca;
  KeyAndCertificate client;
  KeyAndCertificate expired_client;
  TestCa other_ca;
  KeyAndCertificate other_ca_client;
  KeyAndCertificate self_signed_client;
};

Pki* pki = nullptr;

CertificateSpec ClientSpec(const std::string& name) {
  CertificateSpec spec;
  spec.common_name = name;
  spec.extended_key_usage = "clientAuth";
  return spec;
}

absl::StatusOr<Pki> MakePki() {
  WEBHOOKS_ASSIGN_OR_RETURN(TestCa server_ca,
                            TestCa::Create("webhooks test server CA"));
  WEBHOOKS_ASSIGN_OR_RETURN(TestCa client_ca,
                            TestCa::Create("webhooks test client CA"));
  WEBHOOKS_ASSIGN_OR_RETURN(TestCa other_ca, TestCa::Create("some other CA"));
  CertificateSpec server_spec;
  server_spec.subject_alt_names = "DNS:localhost,IP:127.0.0.1";
  WEBHOOKS_ASSIGN_OR_RETURN(KeyAndCertificate server,
                            server_ca.Issue(server_spec));
  WEBHOOKS_ASSIGN_OR_RETURN(KeyAndCertificate client,
                            client_ca.Issue(ClientSpec("publisher")));
  CertificateSpec expired = ClientSpec("publisher");
  expired.not_before = -absl::Hours(48);
  expired.not_after = -absl::Hours(24);
  WEBHOOKS_ASSIGN_OR_RETURN(KeyAndCertificate expired_client,
                            client_ca.Issue(expired));
  WEBHOOKS_ASSIGN_OR_RETURN(KeyAndCertificate other_ca_client,
                            other_ca.Issue(ClientSpec("publisher")));
  WEBHOOKS_ASSIGN_OR_RETURN(
      KeyAndCertificate self_signed_client,
      webhooks::testing::SelfSigned(ClientSpec("publisher")));
  return Pki{.server_ca = server_ca,
             .server = server,
             .client_ca = client_ca,
             .client = client,
             .expired_client = expired_client,
             .other_ca = other_ca,
             .other_ca_client = other_ca_client,
             .self_signed_client = self_signed_client};
}

class TlsApiTest : public ApiTest {
 protected:
  static void SetUpTestSuite() {
    ApiTest::SetUpTestSuite();
    if (pki != nullptr) return;
    absl::StatusOr<Pki> made = MakePki();
    ASSERT_TRUE(made.ok()) << made.status();
    pki = new Pki(*std::move(made));
  }

  void SetUp() override {
    ApiTest::SetUp();
    ASSERT_NE(pki, nullptr) << "no certificates";
    events_store_ = store::NewPgEventStore(&pool());
    deliveries_store_ = store::NewPgDeliveryLogStore(&pool());
    auto tokens =
        security::ApiTokens::Parse(absl::StrCat("admin ", kAdminToken, " *\n"));
    ASSERT_TRUE(tokens.ok()) << tokens.status();
    tokens_ = std::make_unique<security::ApiTokens>(*std::move(tokens));
  }

  // A server of its own on a free loopback port, over the suite's database.
  absl::StatusOr<std::unique_ptr<ApiServer>> StartServer(
      std::optional<TlsFiles> tls) {
    ServerOptions options;
    options.listen_address = "127.0.0.1:0";
    options.max_threads = 8;
    options.tls = std::move(tls);
    return ApiServer::Start(options, {.subscriptions = &subscription_store(),
                                      .events = events_store_.get(),
                                      .deliveries = deliveries_store_.get(),
                                      .sealer = &sealer(),
                                      .tokens = tokens_.get(),
                                      .clock = common::Clock::Real()});
  }

  static TlsFiles ServerTls(bool require_client_certificate) {
    return {.cert_chain_pem = pki->server.cert_pem,
            .private_key_pem = pki->server.key_pem,
            .client_ca_pem = require_client_certificate
                                 ? pki->client_ca.cert_pem()
                                 : std::string()};
  }

  // A channel to `port` over TLS trusting `root_pem`, presenting `client`'s
  // certificate when given.
  static std::shared_ptr<grpc::Channel> TlsChannel(
      int port, const std::string& root_pem,
      const KeyAndCertificate* client = nullptr) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = root_pem;
    if (client != nullptr) {
      ssl.pem_private_key = client->key_pem;
      ssl.pem_cert_chain = client->cert_pem;
    }
    return Channel(port, grpc::SslCredentials(ssl));
  }

  static std::shared_ptr<grpc::Channel> Channel(
      int port, std::shared_ptr<grpc::ChannelCredentials> credentials) {
    grpc::ChannelArguments args;
    // A connection of its own per channel: gRPC's global subchannel pool
    // could otherwise hand one test's handshake result to another channel.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                     std::move(credentials), args);
  }

  // One ListSubscriptions call on `channel` with `token` ("" for none).
  static grpc::Status List(const std::shared_ptr<grpc::Channel>& channel,
                           const std::string& token = kAdminToken) {
    auto stub = v1::SubscriptionService::NewStub(channel);
    v1::ListSubscriptionsRequest request;
    request.set_tenant_id(webhooks::testing::RandomTenant());
    v1::ListSubscriptionsResponse response;
    return stub->ListSubscriptions(Context(token).get(), request, &response);
  }

  std::unique_ptr<store::EventStore> events_store_;
  std::unique_ptr<store::DeliveryLogStore> deliveries_store_;
  std::unique_ptr<security::ApiTokens> tokens_;
};

// The TLS session a client saw: "ssl" when the call went over TLS.
std::string TransportSecurity(const grpc::ClientContext& context) {
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr) return "";
  for (const grpc::string_ref& value :
       auth->FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME)) {
    return std::string(value.data(), value.size());
  }
  return "";
}

TEST_F(TlsApiTest, ClientTrustingTheCaCallsOverTls) {
  auto server = StartServer(ServerTls(/*require_client_certificate=*/false));
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::SubscriptionService::NewStub(
      TlsChannel((*server)->port(), pki->server_ca.cert_pem()));
  v1::ListSubscriptionsRequest request;
  request.set_tenant_id(webhooks::testing::RandomTenant());
  v1::ListSubscriptionsResponse response;
  auto context = Context();
  const grpc::Status status =
      stub->ListSubscriptions(context.get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(TransportSecurity(*context), "ssl");
}

TEST_F(TlsApiTest, PlaintextClientCannotCallATlsServer) {
  auto server = StartServer(ServerTls(false));
  ASSERT_TRUE(server.ok()) << server.status();
  const grpc::Status status =
      List(Channel((*server)->port(), grpc::InsecureChannelCredentials()));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
  // The same server does answer TLS: the refusal was the plaintext.
  EXPECT_TRUE(
      List(TlsChannel((*server)->port(), pki->server_ca.cert_pem())).ok());
}

TEST_F(TlsApiTest, ClientTrustingAnotherCaRefusesTheServer) {
  auto server = StartServer(ServerTls(false));
  ASSERT_TRUE(server.ok()) << server.status();
  const grpc::Status status =
      List(TlsChannel((*server)->port(), pki->other_ca.cert_pem()));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
  EXPECT_TRUE(
      List(TlsChannel((*server)->port(), pki->server_ca.cert_pem())).ok());
}

TEST_F(TlsApiTest, MutualTlsAcceptsACertificateOfTheClientCa) {
  auto server = StartServer(ServerTls(/*require_client_certificate=*/true));
  ASSERT_TRUE(server.ok()) << server.status();
  const grpc::Status status = List(
      TlsChannel((*server)->port(), pki->server_ca.cert_pem(), &pki->client));
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(TlsApiTest, MutualTlsRefusesAClientWithoutACertificate) {
  auto server = StartServer(ServerTls(true));
  ASSERT_TRUE(server.ok()) << server.status();
  const grpc::Status status =
      List(TlsChannel((*server)->port(), pki->server_ca.cert_pem()));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
}

TEST_F(TlsApiTest, MutualTlsRefusesCertificatesOfAnyOtherIssuer) {
  auto server = StartServer(ServerTls(true));
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();
  grpc::Status status =
      List(TlsChannel(port, pki->server_ca.cert_pem(), &pki->other_ca_client));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << "another CA's: " << status.error_message();
  status = List(
      TlsChannel(port, pki->server_ca.cert_pem(), &pki->self_signed_client));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << "self-signed: " << status.error_message();
  // The server's own certificate is not a client certificate of the client
  // CA either, although the client trusts its issuer.
  status = List(TlsChannel(port, pki->server_ca.cert_pem(), &pki->server));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << "the server CA's: " << status.error_message();
}

TEST_F(TlsApiTest, MutualTlsRefusesAnExpiredClientCertificate) {
  auto server = StartServer(ServerTls(true));
  ASSERT_TRUE(server.ok()) << server.status();
  const grpc::Status status = List(TlsChannel(
      (*server)->port(), pki->server_ca.cert_pem(), &pki->expired_client));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
}

// A client certificate is transport, not authorisation: the token is still
// what lets a call in.
TEST_F(TlsApiTest, MutualTlsStillRequiresTheBearerToken) {
  auto server = StartServer(ServerTls(true));
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel =
      TlsChannel((*server)->port(), pki->server_ca.cert_pem(), &pki->client);
  EXPECT_EQ(List(channel, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(List(channel, "unknown-token-0123456789abcdef").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  const grpc::Status with_token = List(channel, kAdminToken);
  EXPECT_TRUE(with_token.ok()) << with_token.error_message();
}

TEST_F(TlsApiTest, StartRefusesMaterialThatIsNotPemOfItsKind) {
  TlsFiles swapped = ServerTls(false);
  std::swap(swapped.cert_chain_pem, swapped.private_key_pem);
  EXPECT_THAT(StartServer(swapped),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("TLS certificate chain")));

  TlsFiles key_is_a_certificate = ServerTls(false);
  key_is_a_certificate.private_key_pem = pki->server.cert_pem;
  EXPECT_THAT(StartServer(key_is_a_certificate),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("TLS private key")));

  TlsFiles bad_client_ca = ServerTls(false);
  bad_client_ca.client_ca_pem = "not a certificate";
  EXPECT_THAT(
      StartServer(bad_client_ca),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("TLS client CA")));
}

// Past the PEM check, gRPC itself refuses a key that is not the
// certificate's: Start fails rather than serve handshakes that cannot work.
TEST_F(TlsApiTest, StartFailsOnAKeyThatIsNotTheCertificates) {
  TlsFiles mismatched = ServerTls(false);
  mismatched.private_key_pem = pki->client.key_pem;
  EXPECT_THAT(StartServer(mismatched),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("with TLS")));
}

}  // namespace
}  // namespace webhooks::api
