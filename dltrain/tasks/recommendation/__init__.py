"""Recommendation: predicting ratings (task=rating) and ranking the items a user would pick (task=ranking) from
user-item interactions, with the baselines each is judged against."""
