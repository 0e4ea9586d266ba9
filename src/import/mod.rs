//! `import`: rule files from the rules already in AWS, for teams adopting sgops.
//!
//! - [`render`]: pure: the rule file of one security group (ids, order, rules written
//!   commented out, warnings). Both forms of the command render through it.
//! - [`all`]: `import --all`: every account × region read concurrently (one AssumeRole per
//!   account, the rules of each account × region in pages of 1000, one
//!   DescribeSecurityGroups for the names of the groups that get a file), then one file per
//!   group.

pub mod all;
pub mod render;

pub use render::{ImportOptions, Imported, rule_file};
