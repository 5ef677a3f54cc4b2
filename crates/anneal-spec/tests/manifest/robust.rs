//! `metric = "robust_accuracy"`: an attack, a radius and PGD's steps; refused elsewhere; the
//! round trip keeps them.

use anneal_spec::{Adversarial, Attack, Metric, Program};

fn program(check: &str) -> Result<Program, anneal_spec::ManifestError> {
    Program::parse(
        "anneal.toml",
        &format!(
            "[program]\nname = \"r\"\nversion = \"0.1.0\"\n[data]\ninput = \"image\"\nshape = [1, 2, 2]\nclasses = 2\n[model]\nlayers = [\"flatten\", \"dense 2\"]\n[[check]]\n{check}"
        ),
    )
}

#[test]
fn a_robust_accuracy_check_states_its_attack() {
    let p =
        program("metric = \"robust_accuracy\"\nattack = \"pgd\"\nepsilon = 0.1\nat_least = 0.8\n")
            .unwrap();
    let c = &p.checks[0];
    assert_eq!(c.metric, Metric::RobustAccuracy);
    assert_eq!(c.attack, Some(Adversarial::pgd(0.1, 20)));
    assert_eq!(c.name, "robust_accuracy[pgd-20 at 0.1]");
    p.revalidate().unwrap();
    assert_eq!(
        Program::parse("again", &p.to_manifest().unwrap()).unwrap(),
        p
    );
    let fgsm =
        program("metric = \"robust_accuracy\"\nattack = \"fgsm\"\nepsilon = 0.3\nat_least = 0.1\n")
            .unwrap();
    let a = fgsm.checks[0].attack.unwrap();
    assert_eq!((a.attack, a.steps), (Attack::Fgsm, 1));
    let steps = program("metric = \"robust_accuracy\"\nattack = \"pgd\"\nepsilon = 0.3\nsteps = 40\nat_least = 0.1\n").unwrap();
    assert_eq!(steps.checks[0].attack.unwrap().steps, 40);
    // A robust check does not change the build key.
    let plain = program("metric = \"accuracy\"\nat_least = 0.8\n").unwrap();
    assert_eq!(p.canonical_json(), plain.canonical_json());
}

#[test]
fn robust_accuracy_errors_name_the_check_and_the_key() {
    let cases = [
        (
            "metric = \"robust_accuracy\"\nepsilon = 0.1\nat_least = 0.8\n",
            "`robust_accuracy` needs `attack`, `fgsm` or `pgd`",
        ),
        (
            "metric = \"robust_accuracy\"\nattack = \"pgd\"\nat_least = 0.8\n",
            "`robust_accuracy` needs `epsilon`",
        ),
        (
            "metric = \"robust_accuracy\"\nattack = \"cw\"\nepsilon = 0.1\nat_least = 0.8\n",
            "unknown attack `cw`: expected `fgsm` or `pgd`",
        ),
        (
            "metric = \"robust_accuracy\"\nattack = \"pgd\"\nepsilon = -1.0\nat_least = 0.8\n",
            "`epsilon = -1`: expected a radius above 0",
        ),
        (
            "metric = \"robust_accuracy\"\nattack = \"fgsm\"\nepsilon = 0.1\nsteps = 3\nat_least = 0.8\n",
            "FGSM takes one step",
        ),
        (
            "metric = \"robust_accuracy\"\nattack = \"pgd\"\nepsilon = 0.1\nsteps = 0\nat_least = 0.8\n",
            "`steps = 0`: expected 1 to 1000",
        ),
        (
            "metric = \"accuracy\"\nepsilon = 0.1\nat_least = 0.8\n",
            "`epsilon` is for `metric = \"robust_accuracy\"`",
        ),
        (
            "metric = \"robust_accuracy\"\nattack = \"pgd\"\nepsilon = 0.1\nfor_each = \"sex\"\nat_least = 0.8\n",
            "`for_each` does not apply",
        ),
    ];
    for (check, message) in cases {
        let e = program(check).unwrap_err();
        assert!(e.message.contains(message), "{check}: {}", e.message);
        assert!(
            e.message.starts_with("check `"),
            "names the check: {}",
            e.message
        );
    }
}
