//! Patch metadata: the `patchStrategy` / `patchMergeKey` struct tags of Go API types.
//!
//! A [`PatchMeta`] describes one Go struct type, listing only the fields that matter to a
//! strategic merge patch: fields carrying a `patchStrategy`/`patchMergeKey` tag, and fields
//! leading (through nested structs and lists of structs) to such fields.  Every field that is
//! not listed behaves like an untagged Go field: maps merge recursively, lists are replaced.
//! Types are `'static` data that reference each other, so a type such as `PodSpec` is
//! described once and shared by Pod, PodTemplate, Deployment, Job, ...
//!
//! The lookups mirror `PatchMetaFromStruct.LookupPatchMetadataForStruct` /
//! `LookupPatchMetadataForSlice` of k8s.io/apimachinery.

use super::error::Error;

/// The patch strategy of a field: the `patchStrategy` tag without its `retainKeys` part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// No strategy: objects merge key by key, lists are replaced.
    Default,
    /// `patchStrategy:"merge"`: lists merge element-wise (by `patchMergeKey` for lists of
    /// objects, as a set for lists of scalars).
    Merge,
    /// `patchStrategy:"replace"`: the value is replaced wholesale, even an object.
    Replace,
}

/// The Go type of a listed field, as far as patching needs it.
#[derive(Debug, Clone, Copy)]
pub enum FieldType {
    /// A non-pointer struct field (`Spec PodSpec`).
    Struct(&'static PatchMeta),
    /// A pointer-to-struct field (`Template *PodTemplateSpec`).
    PtrStruct(&'static PatchMeta),
    /// A slice of structs (`Containers []Container`).
    ListOf(&'static PatchMeta),
    /// A slice of scalars; the payload is the Go kind of the element (`"string"`, `"int"`),
    /// which Kubernetes prints in one error message.
    ListOfScalars(&'static str),
}

/// Patch metadata of one field of a Go struct.
#[derive(Debug, Clone, Copy)]
pub struct FieldMeta {
    /// The field's JSON name.
    pub name: &'static str,
    /// The field's patch strategy (`x-kubernetes-patch-strategy` minus `retainKeys`).
    pub strategy: Strategy,
    /// Whether the `patchStrategy` tag contains `retainKeys`.
    pub retain_keys: bool,
    /// The `patchMergeKey` tag (`x-kubernetes-patch-merge-key`), if any.
    pub merge_key: Option<&'static str>,
    /// The field's Go type.
    pub ty: FieldType,
}

/// Patch metadata of one Go struct type.
#[derive(Debug)]
pub struct PatchMeta {
    /// The Go type name (documentation and diagnostics only).
    pub type_name: &'static str,
    /// The fields that carry patch tags or lead to fields that do.
    pub fields: &'static [FieldMeta],
}

impl PatchMeta {
    /// The metadata of field `name` (by JSON name), if the table lists it.
    pub fn field(&'static self, name: &str) -> Option<&'static FieldMeta> {
        self.fields.iter().find(|f| f.name == name)
    }
}

impl FieldMeta {
    /// The struct type of the field's value, or of its list elements.
    pub fn child(&self) -> Option<&'static PatchMeta> {
        match self.ty {
            FieldType::Struct(m) | FieldType::PtrStruct(m) | FieldType::ListOf(m) => Some(m),
            FieldType::ListOfScalars(_) => None,
        }
    }

    /// The `patchStrategy` tag value as Kubernetes writes it (and publishes it as
    /// `x-kubernetes-patch-strategy`), e.g. `"merge,retainKeys"`; `None` when untagged.
    pub fn patch_strategy_tag(&self) -> Option<&'static str> {
        match (self.strategy, self.retain_keys) {
            (Strategy::Default, false) => None,
            (Strategy::Default, true) => Some("retainKeys"),
            (Strategy::Merge, false) => Some("merge"),
            (Strategy::Merge, true) => Some("merge,retainKeys"),
            (Strategy::Replace, false) => Some("replace"),
            (Strategy::Replace, true) => Some("replace,retainKeys"),
        }
    }
}

/// A field that is a list merged by `key`, with struct elements of type `elem`.
pub const fn merge_list(
    name: &'static str,
    key: &'static str,
    elem: &'static PatchMeta,
) -> FieldMeta {
    FieldMeta {
        name,
        strategy: Strategy::Merge,
        retain_keys: false,
        merge_key: Some(key),
        ty: FieldType::ListOf(elem),
    }
}

/// Like [`merge_list`] with `patchStrategy:"merge,retainKeys"`.
pub const fn merge_list_retain_keys(
    name: &'static str,
    key: &'static str,
    elem: &'static PatchMeta,
) -> FieldMeta {
    FieldMeta {
        name,
        strategy: Strategy::Merge,
        retain_keys: true,
        merge_key: Some(key),
        ty: FieldType::ListOf(elem),
    }
}

/// A list of scalars with `patchStrategy:"merge"` (set union); `kind` is the Go element kind.
pub const fn merge_scalars(name: &'static str, kind: &'static str) -> FieldMeta {
    FieldMeta {
        name,
        strategy: Strategy::Merge,
        retain_keys: false,
        merge_key: None,
        ty: FieldType::ListOfScalars(kind),
    }
}

/// An untagged non-pointer struct field leading to tagged fields.
pub const fn nested(name: &'static str, ty: &'static PatchMeta) -> FieldMeta {
    FieldMeta {
        name,
        strategy: Strategy::Default,
        retain_keys: false,
        merge_key: None,
        ty: FieldType::Struct(ty),
    }
}

/// An untagged pointer-to-struct field leading to tagged fields.
pub const fn nested_ptr(name: &'static str, ty: &'static PatchMeta) -> FieldMeta {
    FieldMeta {
        name,
        strategy: Strategy::Default,
        retain_keys: false,
        merge_key: None,
        ty: FieldType::PtrStruct(ty),
    }
}

/// What a lookup found: the schema below the field (for a list: of its elements), its
/// strategy and its merge key (`""` when none, as in Go).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lookup {
    pub(crate) sub: Schema,
    pub(crate) strategy: Strategy,
    pub(crate) merge_key: &'static str,
}

/// The Go type a part of the document is decoded into.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Schema {
    /// A type without listed fields (untagged struct, map, unknown field): every lookup
    /// below it yields the default strategy.
    Unknown,
    /// A struct described by the table.
    Struct(&'static PatchMeta),
    /// A non-struct Go type of the given kind (e.g. the `string` elements of `finalizers`).
    Opaque(&'static str),
}

const DEFAULT_LOOKUP: Lookup = Lookup {
    sub: Schema::Unknown,
    strategy: Strategy::Default,
    merge_key: "",
};

impl Schema {
    /// `LookupPatchMetadataForStruct(key)`: metadata of `key` when its value is an object.
    pub(crate) fn for_struct(self, key: &str) -> Result<Lookup, Error> {
        match self {
            Schema::Unknown => Ok(DEFAULT_LOOKUP),
            Schema::Opaque(kind) => Err(Error::NotAStruct(kind)),
            Schema::Struct(meta) => Ok(match meta.field(key) {
                None => DEFAULT_LOOKUP,
                Some(f) => Lookup {
                    sub: match f.ty {
                        FieldType::Struct(m) | FieldType::PtrStruct(m) => Schema::Struct(m),
                        FieldType::ListOf(_) | FieldType::ListOfScalars(_) => {
                            Schema::Opaque("slice")
                        }
                    },
                    strategy: f.strategy,
                    merge_key: f.merge_key.unwrap_or(""),
                },
            }),
        }
    }

    /// `LookupPatchMetadataForSlice(key)`: metadata of `key` when its value is a list; the
    /// returned schema is the one of the list's elements.
    pub(crate) fn for_slice(self, key: &str) -> Result<Lookup, Error> {
        match self {
            Schema::Unknown => Ok(DEFAULT_LOOKUP),
            Schema::Opaque(kind) => Err(Error::NotAStruct(kind)),
            Schema::Struct(meta) => match meta.field(key) {
                None => Ok(DEFAULT_LOOKUP),
                Some(f) => {
                    let sub = match f.ty {
                        // Go reports the kind of the enclosing type, always a struct here.
                        FieldType::Struct(_) => return Err(Error::NotASlice("struct")),
                        FieldType::PtrStruct(m) | FieldType::ListOf(m) => Schema::Struct(m),
                        FieldType::ListOfScalars(kind) => Schema::Opaque(kind),
                    };
                    Ok(Lookup {
                        sub,
                        strategy: f.strategy,
                        merge_key: f.merge_key.unwrap_or(""),
                    })
                }
            },
        }
    }

    /// `LookupPatchMeta.Name()`: the Go kind of the type.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Schema::Unknown => "struct",
            Schema::Struct(_) => "struct",
            Schema::Opaque(kind) => kind,
        }
    }
}
