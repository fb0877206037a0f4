# The spec's text, with one plain fix: each `@requests_mock.Mocker()` decorator line is removed
# (marked FIX below), because under pytest a test method taking `m` fails before it runs
# ("fixture 'm' not found"); `m` is requests-mock's own pytest fixture (see conftest.py).
import pytest
from unittest.mock import patch, Mock
import requests_mock
from llm_service import LMStudioService, OllamaService, OpenAIService

class TestLMStudioService:
    
    def test_init(self):
        service = LMStudioService('http://localhost:1234')
        assert service.base_url == 'http://localhost:1234'
    
    # FIX: @requests_mock.Mocker() removed; `m` is the requests_mock fixture
    def test_get_models_success(self, m):
        m.get('http://localhost:1234/v1/models', 
              json={'data': [{'id': 'llama-7b'}, {'id': 'codellama'}]})
        
        service = LMStudioService('http://localhost:1234')
        models = service.get_models()
        
        assert models == ['llama-7b', 'codellama']
    
    # FIX: @requests_mock.Mocker() removed; `m` is the requests_mock fixture
    def test_get_models_failure(self, m):
        m.get('http://localhost:1234/v1/models', status_code=500)
        
        service = LMStudioService('http://localhost:1234')
        
        with pytest.raises(Exception):
            service.get_models()
    
    # FIX: @requests_mock.Mocker() removed; `m` is the requests_mock fixture
    def test_test_connection_success(self, m):
        m.get('http://localhost:1234/v1/models',
              json={'data': [{'id': 'llama-7b'}]})
        
        service = LMStudioService('http://localhost:1234')
        result = service.test_connection()
        
        assert result['status'] == 'connected'
        assert result['models'] == ['llama-7b']

class TestOllamaService:
    
    # FIX: @requests_mock.Mocker() removed; `m` is the requests_mock fixture
    def test_get_models_success(self, m):
        m.get('http://localhost:11434/api/tags',
              json={'models': [{'name': 'llama2:7b'}, {'name': 'codellama:13b'}]})
        
        service = OllamaService('http://localhost:11434')
        models = service.get_models()
        
        assert models == ['llama2:7b', 'codellama:13b']

class TestOpenAIService:
    
    # FIX: @requests_mock.Mocker() removed; `m` is the requests_mock fixture
    def test_get_models_success(self, m):
        m.get('https://api.openai.com/v1/models',
              json={'data': [{'id': 'gpt-4'}, {'id': 'gpt-3.5-turbo'}]})
        
        service = OpenAIService('sk-test123')
        models = service.get_models()
        
        assert models == ['gpt-4', 'gpt-3.5-turbo']
    
    def test_mask_api_key(self):
        service = OpenAIService('sk-1234567890abcdef')
        masked = service.mask_api_key()
        assert masked == 'sk-***************f'
