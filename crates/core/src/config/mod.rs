//! Configuration: interfaces in code ([`Interface`]) or from a TOML/JSON
//! document ([`ConfigDocument`]), equal in power.

mod document;
mod fields;
mod interface;

pub use document::{
    ConfigDocument, InterfaceDocument, StoreFactory, StoreFuture, StoreRegistry, COMMON_SETTINGS,
};
pub use fields::{check_field_name, FieldRules, MAX_FIELD_NAME};
pub(crate) use interface::BackendChoice;
pub use interface::{Interface, SameSite};
