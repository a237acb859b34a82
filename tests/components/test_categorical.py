import numpy as np
import pandas as pd
import pytest
import torch

from skdnn.components.categorical import (
    CATEGORICAL_ENCODINGS,
    CategoricalEmbedding,
    CategoryCodes,
    is_missing,
)


def test_codes_are_sorted_categories_from_one_with_zero_for_missing_and_unseen():
    X = np.array([["b", 3], ["a", None], [None, 1], ["b", float("nan")]], dtype=object)
    codes = CategoryCodes().fit(X)
    assert codes.categories_ == [["a", "b"], [1, 3]]
    assert codes.cardinalities_ == [2, 2]
    np.testing.assert_array_equal(codes.transform(X), [[2, 2], [1, 0], [0, 1], [2, 0]])
    unseen = np.array([["c", 7], ["a", 3]], dtype=object)
    np.testing.assert_array_equal(codes.transform(unseen), [[0, 0], [1, 2]])


def test_codes_from_a_dataframe_with_categorical_dtypes_and_pd_na():
    frame = pd.DataFrame({"colour": pd.Categorical(["red", None, "blue"]),
                          "size": pd.array(["S", pd.NA, "L"], dtype="string")})
    codes = CategoryCodes().fit(frame)
    assert codes.categories_ == [["blue", "red"], ["L", "S"]]
    np.testing.assert_array_equal(codes.transform(frame), [[2, 2], [0, 0], [1, 1]])
    assert is_missing(pd.NA) and is_missing(pd.NaT) and is_missing(np.nan)
    assert not is_missing("NA") and not is_missing(0)


def test_given_categories_fix_the_code_order():
    codes = CategoryCodes(categories=[["low", "mid", "high"]]).fit([["mid"]])
    np.testing.assert_array_equal(codes.transform([["high"], ["low"], ["x"]]), [[3], [1], [0]])
    assert codes.cardinalities_ == [3]
    with pytest.raises(ValueError, match="repeat"):
        CategoryCodes(categories=[["a", "a"]]).fit([["a"]])


def test_mixed_type_categories_still_sort():
    codes = CategoryCodes().fit(np.array([[1], ["a"], [2.5]], dtype=object))
    assert codes.cardinalities_ == [3]
    assert sorted(codes.transform([[1], ["a"], [2.5]]).ravel().tolist()) == [1, 2, 3]


def test_one_hot_for_small_columns_embeddings_for_large():
    embedding = CategoricalEmbedding([2, 20], embedding_dim=4, one_hot_max_cardinality=8,
                                     generator=torch.Generator().manual_seed(0))
    assert embedding.one_hot_columns == [0] and embedding.embedded_columns == [1]
    assert embedding.out_features == 3 + 4
    codes = torch.tensor([[0, 0], [1, 5], [2, 20]])
    out = embedding(codes)
    torch.testing.assert_close(out[:, :3], torch.eye(3))
    table = embedding.embeddings[0].weight
    torch.testing.assert_close(out[:, 3:], table[[0, 5, 20]])
    assert torch.all(table[0] == 0)  # missing/unseen starts as a neutral zero vector
    assert table[1:].std() > 0.5


def test_missing_row_trains_where_data_has_missing_values():
    embedding = CategoricalEmbedding([12], embedding_dim=3, one_hot_max_cardinality=0)
    embedding(torch.tensor([[0], [4]])).sum().backward()
    grad = embedding.embeddings[0].weight.grad
    assert torch.all(grad[0] == 1) and torch.all(grad[4] == 1) and torch.all(grad[1] == 0)


def test_output_dtype_follows_the_module():
    embedding = CategoricalEmbedding([3, 30]).double()
    assert embedding(torch.tensor([[1, 2]])).dtype == torch.float64


def test_registry_variants():
    one_hot = CATEGORICAL_ENCODINGS.build("one_hot", cardinalities=[2, 50])
    assert one_hot.embedded_columns == [] and one_hot.out_features == 3 + 51
    embedded = CATEGORICAL_ENCODINGS.build("embedding", {"embedding_dim": 5}, cardinalities=[2, 50])
    assert embedded.one_hot_columns == [] and embedded.out_features == 10
    auto = CATEGORICAL_ENCODINGS.build("auto", {"one_hot_max_cardinality": 2},
                                       cardinalities=[2, 3])
    assert auto.one_hot_columns == [0] and auto.embedded_columns == [1]


def test_clear_errors():
    embedding = CategoricalEmbedding([2, 3])
    with pytest.raises(ValueError, match="out of range"):
        embedding(torch.tensor([[3, 0]]))
    with pytest.raises(ValueError, match="out of range"):
        embedding(torch.tensor([[-1, 0]]))
    with pytest.raises(ValueError, match="integers"):
        embedding(torch.tensor([[1.0, 0.0]]))
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        embedding(torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="fitted"):
        CategoryCodes().transform([["a"]])
    with pytest.raises(ValueError, match="expected 1"):
        CategoryCodes().fit([["a"]]).transform([["a", "b"]])
    with pytest.raises(ValueError, match="2-D"):
        CategoryCodes().fit(["a", "b"])
    with pytest.raises(ValueError, match="at least one"):
        CategoricalEmbedding([])
