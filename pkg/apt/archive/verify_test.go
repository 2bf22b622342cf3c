package archive

import (
	"crypto/dsa" //lint:ignore SA1019 a DSA key to show it refused
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// keyWeakness follows apt's APT::Key::Assert-Pubkey-Algo default. go-crypto
// cannot make DSA keys or signatures, so DSA is checked here; the
// end-to-end test (TestWeakSignaturesRefused) covers RSA sizes, ECDSA and
// Ed25519.
func TestKeyWeakness(t *testing.T) {
	now := time.Now()
	rsaKey := func(bits int) *packet.PublicKey {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		return packet.NewRSAPublicKey(now, &k.PublicKey)
	}
	dsaKey := packet.NewDSAPublicKey(now, &dsa.PublicKey{
		Parameters: dsa.Parameters{P: big.NewInt(23), Q: big.NewInt(11), G: big.NewInt(4)}, Y: big.NewInt(8)})
	for _, tc := range []struct {
		name string
		pk   *packet.PublicKey
		want string // "" = accepted
	}{
		{"RSA 1024", rsaKey(1024), "RSA with 1024 bits"},
		{"RSA 2048", rsaKey(2048), ""},
		{"DSA", dsaKey, "DSA"},
	} {
		got := keyWeakness(tc.pk)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: keyWeakness = %q, want %q", tc.name, got, tc.want)
		}
	}
}
