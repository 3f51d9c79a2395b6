//! `tessera`: serves the Tessera web app and API (see [`tessera::serve`]).

fn main() -> std::process::ExitCode {
    tessera::serve::main()
}
