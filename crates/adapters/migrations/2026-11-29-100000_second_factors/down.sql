DROP TABLE user_second_factors;
