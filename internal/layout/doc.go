// Package layout holds no code of its own, only the checks that apply to the whole tree:
// every package has a doc comment, and every import follows the layer rule of
// docs/architecture.md (lower layers never import higher ones), so the folder names keep
// telling the architecture.
package layout
