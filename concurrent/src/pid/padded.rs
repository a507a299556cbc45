//! A value alone on its cache lines, so that writes to it (a lock word
//! taken by one thread) do not slow down readers of its neighbours (the
//! namespace fields every translation reads).

/// `T` aligned to two cache lines (for the adjacent-line prefetcher), so
/// nothing else shares its lines.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);
