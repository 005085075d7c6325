package agent

import (
	"path"
	"slices"

	"github.com/sscagent/sscagent/config"
	"github.com/sscagent/sscagent/gate"
)

// SceneKind says what a read means on a terminal (DESIGN §3).
type SceneKind string

// Scene kinds.
const (
	// SceneIdentity authenticates a card or e-card code with the platform (7.1.1, 7.1.2),
	// opens the gate on success and records a C.3 credential.
	SceneIdentity SceneKind = "identity"
	// ScenePayment pays a pending amount with a scanned e-card payment code (7.2.3) or
	// shows the merchant QR (7.2.4), and records C.4.
	ScenePayment SceneKind = "payment"
	// SceneMedical reads the card with PSAM settlement authentication (7.2.5) and hands
	// the result to the settlement application through the local API.
	SceneMedical SceneKind = "medical"
	// SceneKiosk reads and authenticates, and leaves every decision to the kiosk
	// application, which sees all events on the local API.
	SceneKiosk SceneKind = "kiosk"
)

// SceneKinds lists the valid kinds.
var SceneKinds = []SceneKind{SceneIdentity, ScenePayment, SceneMedical, SceneKiosk}

// Scene is one entry of the "scenes" list: which inputs it takes and what a read means.
type Scene struct {
	// Name identifies the scene in events, records and the local API.
	Name string `yaml:"name"`
	// Kind is identity, payment, medical or kiosk.
	Kind SceneKind `yaml:"kind"`
	// Readers are glob patterns of holder-card reader names this scene takes cards from
	// ("*" for any holder reader). A reader belongs to the first scene that matches it.
	Readers []string `yaml:"readers"`
	// Scanners are the names of the scanners (see "scanners") this scene takes codes from.
	Scanners []string `yaml:"scanners"`
	// Gate is the output opened after a successful identity outcome.
	Gate gate.Config `yaml:"gate"`
}

// validateScenes checks the scenes list.
func validateScenes(scenes []Scene, ps *config.Problems) {
	seen := map[string]bool{}
	for i, s := range scenes {
		p := config.Index("scenes", i)
		switch {
		case s.Name == "":
			ps.Addf(config.Join(p, "name"), "required")
		case seen[s.Name]:
			ps.Addf(config.Join(p, "name"), "%q is used by another scene", s.Name)
		}
		seen[s.Name] = true
		if !slices.Contains(SceneKinds, s.Kind) {
			ps.Addf(config.Join(p, "kind"), "must be identity, payment, medical or kiosk, got %q", s.Kind)
		}
		if len(s.Readers) == 0 && len(s.Scanners) == 0 && s.Kind != ScenePayment {
			ps.Addf(p, "takes no input: list readers and/or scanners")
		}
		for j, r := range s.Readers {
			if _, err := path.Match(r, ""); err != nil {
				ps.Addf(config.Index(config.Join(p, "readers"), j), "bad pattern %q: %v", r, err)
			}
		}
		if s.Gate.Kind != "" && s.Gate.Kind != gate.KindNone && s.Kind != SceneIdentity {
			ps.Addf(config.Join(p, "gate.kind"), "a gate is opened by identity scenes only, this scene is %q", s.Kind)
		}
		s.Gate.Validate(config.Join(p, "gate"), ps)
	}
}
