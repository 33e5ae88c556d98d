//! Tests of the CSV reader.

use std::path::Path;

use super::parse::detect_kind;
use super::*;
use crate::data::SplitTag;

fn task(name: &str, kind: TaskKind) -> TaskSpec {
    TaskSpec {
        name: name.to_owned(),
        kind,
        target: name.to_owned(),
        loss: None,
        weight: 1.0,
    }
}

#[test]
fn parses_inputs_targets_and_missing_labels() {
    let text = "a,b,y,c\n1,2,0.5,cat\n3,4,,dog\n5,6,1.5,cat\n";
    let tasks = [task("y", TaskKind::Regression), task("c", TaskKind::Binary)];
    let d = parse(text.as_bytes(), Path::new("t.csv"), &tasks).expect("parses");
    assert_eq!(d.feature_names, ["a", "b"], "non-target columns are inputs");
    assert_eq!(d.x, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "inputs row-major");
    assert_eq!(
        d.targets[0].present,
        [true, false, true],
        "empty cell is missing"
    );
    assert_eq!(d.targets[1].classes, ["cat", "dog"], "classes sorted");
    assert_eq!(d.targets[1].values, [0.0, 1.0, 0.0], "class indices");
}

#[test]
fn mtl_csv_roles_categories_imputation_and_split() {
    let text = "id:row,island,mass,flag:cat,task:species:class,task:size:reg,split\n\
                1,A,10,1,x,1.5,train\n\
                2,B,,2,y,,val\n\
                3,,30,1,,2.5,test\n\
                4,A,20,2,,,train\n";
    let d = parse(text.as_bytes(), Path::new("m.csv"), &[]).expect("parses");
    assert_eq!(d.rows, 3, "the row without any label is dropped");
    assert_eq!(
        d.feature_names,
        [
            "island=A",
            "island=B",
            "island=(missing)",
            "mass",
            "mass_missing",
            "flag=1",
            "flag=2"
        ],
        "one-hot levels, a missing level, an imputation indicator"
    );
    assert_eq!(&d.x[..7], [1.0, 0.0, 0.0, 10.0, 0.0, 1.0, 0.0], "row 1");
    assert!(
        d.x[10].is_nan(),
        "row 2: mass missing, imputed once the training rows are known"
    );
    assert_eq!(
        [&d.x[7..10], &d.x[11..14]].concat(),
        [0.0, 1.0, 0.0, 1.0, 0.0, 1.0],
        "row 2: the indicator says so"
    );
    assert_eq!(
        d.targets[0].name, "species",
        "task: prefix and kind suffix removed"
    );
    assert_eq!(d.targets[0].kind, TaskKind::Binary, "two classes: binary");
    assert_eq!(d.targets[1].kind, TaskKind::Regression, "reg suffix");
    assert_eq!(
        d.split,
        Some(vec![SplitTag::Train, SplitTag::Val, SplitTag::Test]),
        "split column"
    );
}

#[test]
fn kind_detection_follows_the_convention() {
    assert_eq!(
        detect_kind(&["1.5", "2.25", "3"]),
        TaskKind::Regression,
        "fractions"
    );
    assert_eq!(detect_kind(&["a", "b", "c"]), TaskKind::Multiclass, "text");
    assert_eq!(
        detect_kind(&["yes", "no", "yes"]),
        TaskKind::Binary,
        "boolean words"
    );
    let ints: Vec<String> = (0..100).map(|i| (i % 3).to_string()).collect();
    let ints: Vec<&str> = ints.iter().map(String::as_str).collect();
    assert_eq!(
        detect_kind(&ints),
        TaskKind::Multiclass,
        "few integer values"
    );
    let many: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(
        detect_kind(&many),
        TaskKind::Regression,
        "many integer values"
    );
}

#[test]
fn errors_name_line_and_column() {
    let tasks = [task("y", TaskKind::Regression)];
    let cases = [
        ("a,y\n1,2\n3,x\n", "line 3, column 2"),
        ("a,y\n1,2\n1,2,3\n", "line 3"),
        ("a,y\n", "no data rows"),
        ("", "empty"),
        ("a,a,y\n1,2,3\n", "appears twice"),
        ("a,b\n1,2\n", "lacks"),
        ("a,y,split\n1,2,later\n", "line 2, column 3"),
    ];
    for (text, expected) in cases {
        let err = parse(text.as_bytes(), Path::new("bad.csv"), &tasks)
            .expect_err("must fail")
            .to_string();
        assert!(
            err.contains(expected),
            "'{err}' should contain '{expected}'"
        );
        assert!(err.ends_with("bad.csv"), "'{err}' ends with the file");
    }
    let many: String = (0..60).map(|i| format!("v{i},1\n")).collect();
    let err = parse(
        format!("a,y\n{many}").as_bytes(),
        Path::new("bad.csv"),
        &tasks,
    )
    .expect_err("too many levels");
    assert!(err.to_string().contains("at most 50"), "{err}");
}

#[test]
fn every_shipped_dataset_file_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return; // The shared folder is not part of a clean clone.
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = path.to_string_lossy().into_owned();
        if name.ends_with(".csv") || name.ends_with(".csv.gz") {
            let d = load(&path, &[]).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                d.rows > 10 && !d.targets.is_empty(),
                "{name}: rows and targets"
            );
        }
    }
}
