//! `plugin` → surface: a component's top-level imports and exports, and the role they make,
//! read from its bytes without compiling it — what `plugin inspect` and `plugin build` need in
//! milliseconds even for an 18 MB Python component. Registration still compiles and links.

use super::{CONTRACT_LINE, InvalidPlugin, Role, interface};

/// The interfaces a component imports and exports, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Surface {
    /// Top-level imports, such as `wasi:filesystem/types@0.2.6`.
    pub imports: Vec<String>,
    /// Top-level exports, such as `batch:plugin/item-reader@0.1.0`.
    pub exports: Vec<String>,
}

impl Surface {
    /// Reads the outer component's import and export sections (nested modules and components
    /// are skipped over).
    pub fn of(wasm: &[u8]) -> Result<Surface, InvalidPlugin> {
        if !is_component(wasm) {
            return Err(InvalidPlugin::NotAComponent(
                if wasm.starts_with(b"\0asm") {
                    "it is a core WebAssembly module".to_owned()
                } else {
                    "it does not start with the WebAssembly magic bytes".to_owned()
                },
            ));
        }
        let bad = |e: wasmparser::BinaryReaderError| InvalidPlugin::NotAComponent(e.to_string());
        let mut surface = Surface {
            imports: Vec::new(),
            exports: Vec::new(),
        };
        let mut depth = 0usize;
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            match payload.map_err(bad)? {
                wasmparser::Payload::ModuleSection { .. }
                | wasmparser::Payload::ComponentSection { .. } => depth += 1,
                wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
                wasmparser::Payload::ComponentImportSection(s) if depth == 0 => {
                    for import in s {
                        surface
                            .imports
                            .push(import.map_err(bad)?.name.name.to_owned());
                    }
                }
                wasmparser::Payload::ComponentExportSection(s) if depth == 0 => {
                    for export in s {
                        surface
                            .exports
                            .push(export.map_err(bad)?.name.name.to_owned());
                    }
                }
                _ => {}
            }
        }
        Ok(surface)
    }

    /// The one batch:plugin role the exports make.
    pub fn role(&self) -> Result<Role, InvalidPlugin> {
        role_of_exports(&self.exports)
    }
}

/// True when `bytes` start like a WebAssembly component (magic, layer 1).
pub(super) fn is_component(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && &bytes[0..4] == b"\0asm" && bytes[6..8] == [0x01, 0x00]
}

/// The role of a component exporting `exports`: exactly one batch:plugin role interface, of a
/// contract version on this host's line.
pub(super) fn role_of_exports(exports: &[String]) -> Result<Role, InvalidPlugin> {
    let roles: Vec<Role> = Role::ALL
        .into_iter()
        .filter(|r| exports.iter().any(|e| e.starts_with(interface(*r))))
        .collect();
    match roles.as_slice() {
        [role] => {
            let found = exports
                .iter()
                .find_map(|e| e.strip_prefix(interface(*role)))
                .unwrap_or_default();
            if !found.starts_with(CONTRACT_LINE) {
                return Err(InvalidPlugin::UnsupportedVersion {
                    found: crate::domain::neutralise(found, crate::domain::GuestField::ErrorKind),
                });
            }
            Ok(*role)
        }
        [] => Err(InvalidPlugin::WrongWorld(if exports.is_empty() {
            "nothing".into()
        } else {
            exports.join(", ")
        })),
        many => Err(InvalidPlugin::SeveralRoles(
            many.iter()
                .map(|r| r.world())
                .collect::<Vec<_>>()
                .join(", "),
        )),
    }
}
