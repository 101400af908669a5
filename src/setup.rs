//! `offload setup` / `offload uninstall` (in progress).

use crate::Error;
use crate::cli::SetupArgs;

pub fn setup(_args: SetupArgs) -> Result<u8, Error> {
    Err(Error::with_code(
        "offload setup is not available in this build yet",
        1,
    ))
}

pub fn uninstall(_args: SetupArgs) -> Result<u8, Error> {
    Err(Error::with_code(
        "offload uninstall is not available in this build yet",
        1,
    ))
}
