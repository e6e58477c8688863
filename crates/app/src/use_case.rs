//! `use_case!`: a use case's struct and the `new` that takes its ports, written once.

/// Declares a use case: the struct (always `Clone`, its ports being `Arc`s) and a
/// `pub fn new` that takes its fields as arguments, in the order they are listed. A
/// field written `name: Type = value` is not an argument: `new` starts it at `value`,
/// and a `with_…` method of the use case sets it.
///
/// ```text
/// use_case! {
///     /// Retries what failed.
///     pub struct Retry {
///         queue: Arc<dyn ExportQueue>,
///         clock: Arc<dyn Clock>,
///         limit: u32 = 3,
///     }
///     /// Builds the use case from its ports.
///     pub fn new;
/// }
/// ```
///
/// gives `pub fn new(queue: Arc<dyn ExportQueue>, clock: Arc<dyn Clock>) -> Self`, with
/// `limit` at 3.
macro_rules! use_case {
    (
        $(#[$attr:meta])*
        pub struct $name:ident { $($fields:tt)* }
        $(#[$new_attr:meta])*
        pub fn new;
    ) => {
        use_case!(@fields [$(#[$attr])* $name] [$(#[$new_attr])*] [] [] [] $($fields)*);
    };
    // One field at a time, into the struct's declarations, `new`'s arguments and the
    // initialisers. First a field `new` starts at a value…
    (@fields $head:tt $new:tt [$($decl:tt)*] [$($arg:tt)*] [$($init:tt)*]
        $(#[$field_attr:meta])* $field:ident : $ty:ty = $value:expr $(, $($rest:tt)*)?
    ) => {
        use_case!(@fields $head $new
            [$($decl)* $(#[$field_attr])* $field: $ty,]
            [$($arg)*]
            [$($init)* $field: $value,]
            $($($rest)*)?);
    };
    // …then one it takes as an argument…
    (@fields $head:tt $new:tt [$($decl:tt)*] [$($arg:tt)*] [$($init:tt)*]
        $(#[$field_attr:meta])* $field:ident : $ty:ty $(, $($rest:tt)*)?
    ) => {
        use_case!(@fields $head $new
            [$($decl)* $(#[$field_attr])* $field: $ty,]
            [$($arg)* $field: $ty,]
            [$($init)* $field,]
            $($($rest)*)?);
    };
    // …and, every field read, the struct and `new`.
    (@fields [$(#[$attr:meta])* $name:ident] [$(#[$new_attr:meta])*]
        [$($decl:tt)*] [$($arg:tt)*] [$($init:tt)*]
    ) => {
        $(#[$attr])*
        #[derive(Clone)]
        pub struct $name {
            $($decl)*
        }

        impl $name {
            $(#[$new_attr])*
            pub fn new($($arg)*) -> Self {
                Self { $($init)* }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use_case! {
        /// A use case with two ports and a setting.
        pub struct Example {
            name: Arc<str>,
            count: u32,
            limit: u32 = 3,
        }
        /// Builds it.
        pub fn new;
    }

    #[test]
    fn new_takes_the_listed_fields_in_order_and_starts_the_others_at_their_value() {
        let example = Example::new(Arc::from("ports"), 7);
        let copy = example.clone();
        assert_eq!(&*copy.name, "ports");
        assert_eq!((copy.count, copy.limit), (7, 3));
    }
}
